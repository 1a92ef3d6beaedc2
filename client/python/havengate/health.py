"""A client of the standard ``grpc.health.v1.Health`` service.

Debian packages no Python stubs for it (``grpcio-health-checking`` is not in
Debian 12), so its two messages are declared here from their well-known
definition, in a descriptor pool of their own.
"""

from __future__ import annotations

from typing import Optional

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

__all__ = ["HealthStub", "SERVING_STATUSES"]

#: grpc.health.v1.HealthCheckResponse.ServingStatus, by number.
SERVING_STATUSES = ("UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN")


def _messages():
    field = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="havengate_client/grpc_health_v1.proto",
                                              package="grpc.health.v1", syntax="proto3")
    request = file.message_type.add(name="HealthCheckRequest")
    request.field.add(name="service", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    response = file.message_type.add(name="HealthCheckResponse")
    status = response.enum_type.add(name="ServingStatus")
    for number, name in enumerate(SERVING_STATUSES):
        status.value.add(name=name, number=number)
    response.field.add(name="status", number=1, type=field.TYPE_ENUM, label=field.LABEL_OPTIONAL,
                       type_name=".grpc.health.v1.HealthCheckResponse.ServingStatus")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    factory = message_factory.MessageFactory(pool)
    return (factory.GetPrototype(pool.FindMessageTypeByName("grpc.health.v1.HealthCheckRequest")),
            factory.GetPrototype(pool.FindMessageTypeByName("grpc.health.v1.HealthCheckResponse")))


HealthCheckRequest, HealthCheckResponse = _messages()


class HealthStub:
    """``grpc.health.v1.Health/Check`` on a channel."""

    def __init__(self, channel: grpc.Channel) -> None:
        self._check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=HealthCheckRequest.SerializeToString,
            response_deserializer=HealthCheckResponse.FromString)

    def check(self, service: str = "", timeout: Optional[float] = None,
              wait_for_ready: bool = False) -> str:
        """The serving status name of ``service`` ("" for the server as a whole)."""
        response = self._check(HealthCheckRequest(service=service), timeout=timeout,
                               wait_for_ready=wait_for_ready)
        if 0 <= response.status < len(SERVING_STATUSES):
            return SERVING_STATUSES[response.status]
        return "UNKNOWN"

// havengate officers' console. Part of havengate, under the project's
// licence. Served by havenctl console from its own binary; the pages work
// without it. It only asks before a step that changes the active policy,
// and puts the cursor at a diagnostic's place in the candidate when the
// diagnostic is clicked.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm("This changes the active sharing policy. Continue?")) {
        event.preventDefault();
      }
    });
  });
  var editor = document.getElementById("policy_text");
  document.querySelectorAll(".diagnostic[data-line]").forEach(function (diagnostic) {
    diagnostic.addEventListener("click", function () {
      if (!editor) return;
      var line = parseInt(diagnostic.getAttribute("data-line"), 10);
      var column = parseInt(diagnostic.getAttribute("data-column"), 10) || 1;
      var lines = editor.value.split("\n");
      var offset = 0;
      for (var i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
      offset += column - 1;
      editor.focus();
      editor.setSelectionRange(offset, offset);
    });
  });
});

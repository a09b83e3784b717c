/* Conditional fields of a call's form, live (progressive enhancement).
 * A field wrapper with data-show-if-field / data-show-if-values is shown when
 * the named field of the same form currently has one of the values; without
 * JavaScript the server shows or hides it after each save. */
(function () {
  "use strict";

  function currentValues(form, name) {
    var values = [];
    var wrapper = form.querySelector("#champ-" + name);
    if (wrapper && wrapper.hidden) {
      return values; // a hidden field counts as unanswered
    }
    var inputs = form.querySelectorAll('[name="' + name + '"]');
    Array.prototype.forEach.call(inputs, function (input) {
      if (input.type === "hidden") {
        return;
      }
      if (input.type === "radio" || input.type === "checkbox") {
        if (input.checked) {
          values.push(input.value);
        }
      } else if (input.tagName === "SELECT" && input.multiple) {
        Array.prototype.forEach.call(input.selectedOptions, function (o) { values.push(o.value); });
      } else if (input.value !== "") {
        values.push(input.value);
      }
    });
    return values;
  }

  function refresh(form) {
    var conditional = form.querySelectorAll("[data-show-if-field]");
    // Conditions may chain (a field shown by a field shown by another): a few passes settle them.
    for (var pass = 0; pass < 5; pass += 1) {
      var changed = false;
      Array.prototype.forEach.call(conditional, function (wrapper) {
        var target = wrapper.getAttribute("data-show-if-field");
        if (!form.querySelector('[name="' + target + '"]')) {
          return; // the field is in another section: the server decides
        }
        var expected = JSON.parse(wrapper.getAttribute("data-show-if-values") || "[]");
        var shown = currentValues(form, target).some(function (v) { return expected.indexOf(v) !== -1; });
        if (wrapper.hidden === shown) {
          wrapper.hidden = !shown;
          changed = true;
        }
      });
      if (!changed) {
        break;
      }
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("form.cf-form"), function (form) {
      form.addEventListener("change", function () { refresh(form); });
      refresh(form);
    });
  });
})();

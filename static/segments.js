/* custops segment builder: a nested rule-tree editor over the rules JSON textarea.
 *
 * The textarea (name="rules") is the form's single source of truth: the builder writes the JSON tree into it
 * on every change and asks the page for the live count (htmx, on #segment-preview, debounced by its trigger).
 * Validation errors come back keyed by JSON path ("rules.all[1].any[0].op") and are shown next to the
 * condition or group they belong to. Without JavaScript the textarea is the editor, so pasting JSON works.
 * No dependencies, no build step; the menus' labels come from the page (#rule-catalogue).
 */
(function () {
  "use strict";

  var form = document.querySelector("form[data-builder]");
  if (!form) return;
  var catalogue = JSON.parse(document.getElementById("rule-catalogue").textContent);
  var text = catalogue.text;
  var textarea = form.querySelector("textarea[name=rules]");
  var builder = document.getElementById("rule-builder");
  var jsonBox = document.getElementById("rules-json-box");
  var toggle = document.getElementById("json-toggle");
  var jsonStatus = document.getElementById("json-status");
  var preview = document.getElementById("segment-preview");
  var ATTRIBUTE = "attributes.";
  var ATTRIBUTE_CHOICE = "__attribute";
  var EVENT_CHOICE = "__event";
  var NO_VALUE = ["is_set", "is_not_set"];
  var LIST_OPS = catalogue.list_ops;
  var fields = {};
  catalogue.fields.forEach(function (field) { fields[field.name] = field; });

  var tree = null;
  var errors = {};

  // Small DOM helpers ----------------------------------------------------------------------------------------

  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      var value = attributes[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach(function (child) { if (child) node.append(child); });
    return node;
  }

  function options(select, pairs, current) {
    pairs.forEach(function (pair) {
      select.append(el("option", {value: pair[0], text: pair[1], selected: String(pair[0]) === String(current)}));
    });
    return select;
  }

  function button(label, className, onClick) {
    var node = el("button", {type: "button", class: className, text: label});
    node.addEventListener("click", onClick);
    return node;
  }

  // The tree -------------------------------------------------------------------------------------------------

  function isObject(value) { return value !== null && typeof value === "object" && !Array.isArray(value); }
  function isGroup(node) { return isObject(node) && ("all" in node || "any" in node || "not" in node); }
  function groupKind(node) { return "all" in node ? "all" : ("any" in node ? "any" : "not"); }

  function groupChildren(node) {
    var kind = groupKind(node);
    if (kind === "not") return node.not === null || node.not === undefined ? [] : [node.not];
    return Array.isArray(node[kind]) ? node[kind] : [];
  }

  function childPath(path, kind, index) { return kind === "not" ? path + ".not" : path + "." + kind + "[" + index + "]"; }

  /* Whether the builder can show a node; anything else is edited as JSON. */
  function representable(node) {
    if (!isObject(node)) return false;
    if (isGroup(node)) {
      var kind = groupKind(node);
      if (Object.keys(node).length !== 1) return false;
      if (kind !== "not" && !Array.isArray(node[kind])) return false;
      return groupChildren(node).every(representable);
    }
    return typeof node.field === "string" || typeof node.event === "string";
  }

  function starterCondition() {
    var field = fields.tier || catalogue.fields[0];
    return {field: field.name, op: field.ops[0][0], value: defaultValue(field, field.ops[0][0])};
  }

  function defaultValue(field, op) {
    if (NO_VALUE.indexOf(op) >= 0) return undefined;
    var list = LIST_OPS.indexOf(op) >= 0;
    if (field && field.type === "bool") return true;
    if (field && field.choices && field.choices.length) return list ? [field.choices[0][0]] : field.choices[0][0];
    if (field && field.type === "number") return op === "between" ? [null, null] : null;
    return list ? [] : "";
  }

  /* Keep what the person typed when the operator changes shape (one value, a list, a range, none). */
  function convertValue(field, op, value) {
    if (NO_VALUE.indexOf(op) >= 0) return undefined;
    var first = Array.isArray(value) ? value[0] : value;
    var empty = first === undefined || first === null || first === "";
    if (LIST_OPS.indexOf(op) >= 0) return Array.isArray(value) ? value : (empty ? defaultValue(field, op) : [value]);
    if (op === "between") return Array.isArray(value) && value.length === 2 ? value : [empty ? null : first, null];
    if (field && field.type === "bool") return typeof first === "boolean" ? first : true;
    return empty ? defaultValue(field, op) : first;
  }

  function replaceNode(node, replacement) {
    Object.keys(node).forEach(function (key) { delete node[key]; });
    Object.keys(replacement).forEach(function (key) {
      if (replacement[key] !== undefined) node[key] = replacement[key];
    });
  }

  function setGroupKind(node, kind) {
    var old = groupKind(node);
    if (old === kind) return;
    var children = groupChildren(node);
    delete node[old];
    if (kind === "not") node.not = children.length === 0 ? null : (children.length === 1 ? children[0] : {all: children});
    else node[kind] = children;
  }

  function addChild(node, child) {
    var kind = groupKind(node);
    if (kind === "not") node.not = child;
    else node[kind].push(child);
  }

  function removeChild(node, index) {
    var kind = groupKind(node);
    if (kind === "not") node.not = null;
    else node[kind].splice(index, 1);
  }

  // Rendering ------------------------------------------------------------------------------------------------

  function render() {
    var focused = document.activeElement && builder.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    builder.replaceChildren(renderGroup(tree, "rules", null), eventNames());
    if (focused) {
      var again = builder.querySelector('[data-key="' + CSS.escape(focused) + '"]');
      if (again) again.focus();
    }
    showErrors();
  }

  function eventNames() {
    var list = el("datalist", {id: "rule-event-names"});
    catalogue.event.names.forEach(function (name) { list.append(el("option", {value: name})); });
    return list;
  }

  function renderGroup(node, path, parent) {
    var kind = groupKind(node);
    var box = el("div", {class: "rule-group rule-group-" + kind, "data-path": path});
    var kindSelect = options(el("select", {class: "rule-group-kind", "aria-label": text.group_label, "data-key": path + "|kind"}), catalogue.groups, kind);
    kindSelect.addEventListener("change", function () { setGroupKind(node, kindSelect.value); changed(true); });
    var head = el("div", {class: "rule-group-head"}, [kindSelect]);
    if (parent) head.append(button(text.remove_group, "rule-remove secondary outline", function () { removeChild(parent.node, parent.index); changed(true); }));
    box.append(head, el("small", {class: "rule-error", "aria-live": "polite"}));
    var list = el("ul", {class: "rule-children"});
    groupChildren(node).forEach(function (child, index) {
      var childAt = childPath(path, kind, index);
      var where = {node: node, index: index};
      list.append(el("li", {}, [isGroup(child) ? renderGroup(child, childAt, where) : renderCondition(child, childAt, where)]));
    });
    box.append(list);
    if (kind !== "not" || groupChildren(node).length === 0) {
      box.append(el("div", {class: "rule-group-actions"}, [
        button(text.add_condition, "rule-add-condition secondary outline", function () { addChild(node, starterCondition()); changed(true, path); }),
        button(text.add_group, "rule-add-group secondary outline", function () { addChild(node, {all: [starterCondition()]}); changed(true, path); }),
      ]));
    } else {
      box.append(el("small", {class: "muted rule-not-hint", text: text.not_hint}));
    }
    return box;
  }

  function fieldMenu(node, path) {
    var select = el("select", {class: "rule-field", "aria-label": text.field, "data-key": path + "|field"});
    var current = "event" in node ? EVENT_CHOICE : (String(node.field || "").indexOf(ATTRIBUTE) === 0 ? ATTRIBUTE_CHOICE : node.field);
    var groups = {};
    var known = false;
    catalogue.fields.forEach(function (field) {
      if (!groups[field.group]) { groups[field.group] = el("optgroup", {label: field.group}); select.append(groups[field.group]); }
      groups[field.group].append(el("option", {value: field.name, text: field.label, selected: field.name === current}));
      known = known || field.name === current;
    });
    var other = el("optgroup", {label: "…"}, [
      el("option", {value: ATTRIBUTE_CHOICE, text: catalogue.attribute.label, selected: current === ATTRIBUTE_CHOICE}),
      el("option", {value: EVENT_CHOICE, text: catalogue.event.label, selected: current === EVENT_CHOICE}),
    ]);
    select.append(other);
    if (!known && current !== ATTRIBUTE_CHOICE && current !== EVENT_CHOICE) {
      select.prepend(el("option", {value: String(current), text: String(current), selected: true}));
    }
    select.addEventListener("change", function () {
      var choice = select.value;
      if (choice === EVENT_CHOICE) replaceNode(node, {event: catalogue.event.names[0] || "", op: "did", within_days: 30});
      else if (choice === ATTRIBUTE_CHOICE) replaceNode(node, {field: ATTRIBUTE, op: "eq", value: ""});
      else {
        var field = fields[choice];
        replaceNode(node, {field: choice, op: field.ops[0][0], value: defaultValue(field, field.ops[0][0])});
      }
      changed(true);
    });
    return select;
  }

  function operatorMenu(node, path, pairs, field) {
    var choices = pairs.slice();
    if (!choices.some(function (pair) { return pair[0] === node.op; })) choices.unshift([String(node.op), String(node.op)]);
    var select = options(el("select", {class: "rule-op", "aria-label": text.operator, "data-key": path + "|op"}), choices, node.op);
    select.addEventListener("change", function () {
      node.op = select.value;
      var value = convertValue(field, node.op, node.value);
      if (value === undefined) delete node.value; else node.value = value;
      changed(true);
    });
    return select;
  }

  function renderCondition(node, path, parent) {
    var row = el("div", {class: "rule-condition", "data-path": path});
    var controls = el("div", {class: "rule-controls"}, [fieldMenu(node, path)]);
    if ("event" in node) {
      var name = el("input", {type: "text", class: "rule-event", list: "rule-event-names", value: node.event, "aria-label": catalogue.event.name_label, placeholder: catalogue.event.name_label, "data-key": path + "|event"});
      name.addEventListener("input", function () { node.event = name.value; changed(false); });
      var days = el("input", {type: "number", class: "rule-days", min: 1, max: 3650, step: 1, value: node.within_days === null || node.within_days === undefined ? "" : node.within_days, "aria-label": catalogue.event.days_label, "data-key": path + "|days"});
      days.addEventListener("input", function () { node.within_days = toNumber(days.value); changed(false); });
      controls.append(operatorMenu(node, path, catalogue.event.ops, null), name, el("span", {class: "rule-word", text: catalogue.event.days_label}), days);
    } else if (String(node.field || "").indexOf(ATTRIBUTE) === 0) {
      var key = el("input", {type: "text", class: "rule-attribute-key", value: node.field.slice(ATTRIBUTE.length), "aria-label": catalogue.attribute.key_label, placeholder: catalogue.attribute.key_label, "data-key": path + "|key"});
      key.addEventListener("input", function () { node.field = ATTRIBUTE + key.value.trim(); changed(false); });
      controls.append(key, operatorMenu(node, path, catalogue.attribute.ops, {type: "text"}));
      valueInputs(node, path, {type: "text"}).forEach(function (input) { controls.append(input); });
    } else {
      var field = fields[node.field];
      controls.append(operatorMenu(node, path, field ? field.ops : [], field));
      valueInputs(node, path, field || {type: "text"}).forEach(function (input) { controls.append(input); });
    }
    controls.append(button(text.remove, "rule-remove secondary outline", function () { removeChild(parent.node, parent.index); changed(true); }));
    row.append(controls, el("small", {class: "rule-error", "aria-live": "polite"}));
    return row;
  }

  function toNumber(raw) {
    if (raw === "" || raw === null) return null;
    var number = Number(raw);
    return isFinite(number) ? number : null;
  }

  function shown(value) { return value === null || value === undefined ? "" : (Array.isArray(value) ? value.join(", ") : String(value)); }

  function valueInputs(node, path, field) {
    var op = node.op;
    if (NO_VALUE.indexOf(op) >= 0) return [];
    var label = text.value;
    if (field.type === "bool") {
      var yesNo = options(el("select", {class: "rule-value", "aria-label": label, "data-key": path + "|value"}), [["true", text.yes], ["false", text.no]], String(node.value));
      yesNo.addEventListener("change", function () { node.value = yesNo.value === "true"; changed(false); });
      return [yesNo];
    }
    if (field.choices && field.choices.length) {
      if (LIST_OPS.indexOf(op) >= 0) {
        var chosen = Array.isArray(node.value) ? node.value : [];
        var box = el("fieldset", {class: "rule-choices", "aria-label": label});
        field.choices.forEach(function (pair, index) {
          var check = el("input", {type: "checkbox", value: pair[0], checked: chosen.indexOf(pair[0]) >= 0, "data-key": path + "|value" + index});
          check.addEventListener("change", function () {
            node.value = Array.from(box.querySelectorAll("input:checked")).map(function (input) { return input.value; });
            changed(false);
          });
          box.append(el("label", {}, [check, document.createTextNode(" " + pair[1])]));
        });
        return [box];
      }
      var pairs = field.choices.slice();
      if (!pairs.some(function (pair) { return pair[0] === node.value; })) pairs.unshift([shown(node.value), shown(node.value)]);
      var choice = options(el("select", {class: "rule-value", "aria-label": label, "data-key": path + "|value"}), pairs, node.value);
      choice.addEventListener("change", function () { node.value = choice.value; changed(false); });
      return [choice];
    }
    if (field.type === "number") {
      var step = field.whole ? 1 : "any";
      if (op === "between") {
        var range = Array.isArray(node.value) ? node.value : [null, null];
        var low = el("input", {type: "number", step: step, class: "rule-value rule-low", value: shown(range[0]), "aria-label": label, "data-key": path + "|low"});
        var high = el("input", {type: "number", step: step, class: "rule-value rule-high", value: shown(range[1]), "aria-label": label, "data-key": path + "|high"});
        var update = function () { node.value = [toNumber(low.value), toNumber(high.value)]; changed(false); };
        low.addEventListener("input", update);
        high.addEventListener("input", update);
        return [low, el("span", {class: "rule-word", text: text.and}), high];
      }
      var number = el("input", {type: "number", step: step, class: "rule-value", value: shown(node.value), "aria-label": label, "data-key": path + "|value"});
      number.addEventListener("input", function () { node.value = toNumber(number.value); changed(false); });
      return [number];
    }
    var list = LIST_OPS.indexOf(op) >= 0;
    var input = el("input", {type: "text", class: "rule-value", value: shown(node.value), "aria-label": label, placeholder: list ? text.comma_hint : null, "data-key": path + "|value"});
    input.addEventListener("input", function () {
      node.value = list ? input.value.split(",").map(function (part) { return part.trim(); }).filter(Boolean) : input.value;
      changed(false);
    });
    return [input];
  }

  // Errors by JSON path --------------------------------------------------------------------------------------

  /* The closest builder element for an error path: "rules.all[1].any[0].value[1]" → its condition. */
  function elementFor(path) {
    var current = path;
    while (current) {
      var found = builder.querySelector('[data-path="' + CSS.escape(current) + '"]');
      if (found) return found;
      var shorter = current.replace(/(\.[A-Za-z_]+|\[\d+\])$/, "");
      if (shorter === current) break;
      current = shorter;
    }
    return builder.querySelector('[data-path="rules"]');
  }

  function showErrors() {
    builder.querySelectorAll(".has-error").forEach(function (node) { node.classList.remove("has-error"); });
    builder.querySelectorAll(".rule-error").forEach(function (node) { node.textContent = ""; });
    builder.querySelectorAll("[aria-invalid]").forEach(function (node) { node.removeAttribute("aria-invalid"); });
    Object.keys(errors).forEach(function (path) {
      var target = elementFor(path);
      if (!target) return;
      var slot = target.querySelector(":scope > .rule-error");
      target.classList.add("has-error");
      if (slot) slot.textContent = (slot.textContent ? slot.textContent + " " : "") + errors[path].join(" ");
      var controls = target.querySelector(":scope > .rule-controls, :scope > .rule-group-head");
      if (controls) controls.querySelectorAll("input, select").forEach(function (input) { input.setAttribute("aria-invalid", "true"); });
    });
  }

  function readErrors(holder) {
    try { errors = holder ? JSON.parse(holder.dataset.errors || "{}") : {}; } catch (exc) { errors = {}; }
    if (!toggle.checked) showErrors();
  }

  // Syncing --------------------------------------------------------------------------------------------------

  function askForCount() {
    if (window.htmx && preview) window.htmx.trigger(preview, "segment-rules-changed");
  }

  function changed(rerender, focusPath) {
    textarea.value = JSON.stringify(tree, null, 2);
    if (rerender) render();
    if (focusPath) {
      var group = builder.querySelector('[data-path="' + CSS.escape(focusPath) + '"] > .rule-children > li:last-child select');
      if (group) group.focus();
    }
    askForCount();
  }

  function parseTextarea() {
    try {
      var parsed = JSON.parse(textarea.value);
      if (!representable(parsed)) return {error: text.json_not_group};
      return {tree: isGroup(parsed) ? parsed : {all: [parsed]}};
    } catch (exc) {
      return {error: text.json_invalid.replace("%(error)s", exc.message)};
    }
  }

  function showJson(on) {
    toggle.checked = on;
    builder.hidden = on;
    jsonBox.hidden = !on;
  }

  toggle.addEventListener("change", function () {
    if (toggle.checked) { jsonStatus.hidden = true; showJson(true); textarea.focus(); return; }
    var parsed = parseTextarea();
    if (parsed.error) {
      jsonStatus.textContent = parsed.error;
      jsonStatus.hidden = false;
      showJson(true);
      return;
    }
    jsonStatus.hidden = true;
    tree = parsed.tree;
    showJson(false);
    changed(true);
  });

  textarea.addEventListener("input", function () {
    var parsed = parseTextarea();
    jsonStatus.hidden = !parsed.error || parsed.error === text.json_not_group;
    jsonStatus.textContent = parsed.error || "";
    askForCount();
  });

  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target === preview) readErrors(preview.querySelector("[data-errors]"));
  });

  // Start: the builder when the JSON can be shown in it, else the JSON editor with what is wrong.
  document.getElementById("json-toggle-label").hidden = false;
  var start = parseTextarea();
  readErrors(document.getElementById("server-rule-errors"));
  if (start.error) {
    tree = null;
    jsonStatus.textContent = start.error;
    jsonStatus.hidden = false;
    showJson(true);
  } else {
    tree = start.tree;
    // The builder shows the errors next to their conditions (and the live count lists them), so the server's
    // list, written for pages without JavaScript, would only repeat them with paths that may have moved.
    var serverList = document.getElementById("rule-error-list");
    if (serverList) serverList.hidden = true;
    if (JSON.stringify(tree) !== JSON.stringify(JSON.parse(textarea.value))) textarea.value = JSON.stringify(tree, null, 2);
    showJson(false);
    render();
  }
})();

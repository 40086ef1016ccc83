// The page's behaviour: select a parameter (its path and its derivation), edit values (every number
// recomputed in float64 by values(), the derivation's steps as JavaScript, printed beside this script).
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("page-data").textContent);
  const MATHML = "http://www.w3.org/1998/Math/MathML";
  const params = Object.assign({}, DATA.params);
  const samples = DATA.samples.map((s) => ({ inputs: s.inputs.slice(), targets: s.targets.slice() }));
  const printed = new Map(); // element -> its exact (printed) content, saved before the first redraw
  let edited = false;
  let current = null;

  // -- numbers ------------------------------------------------------------------------------------
  function format(v, digits) {
    // As the Python side prints: the shortest float text when it is short, else `digits` significant
    // digits, plain from 1e-5 to 1e9 and scientific beyond.
    if (Number.isNaN(v)) return "nan";
    if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
    if (v === 0) return "0";
    const shortest = String(v);
    if (!/e/.test(shortest) && shortest.replace(/^-?0*\.?0*/, "").replace(".", "").length <= digits) return shortest;
    const exponent = Number(v.toExponential(digits - 1).split("e")[1]);
    if (exponent >= -5 && exponent < Math.max(digits, 9)) return v.toFixed(Math.max(digits - 1 - exponent, 0));
    const [mantissa, e] = v.toExponential(digits - 1).split("e");
    return mantissa + "e" + (Number(e) >= 0 ? "+" : "-") + Math.abs(Number(e));
  }

  function mathNodes(text, operand) {
    const minus = (t) => t.replace("-", "\u2212");
    const make = (tag, content) => {
      const node = document.createElementNS(MATHML, tag);
      if (typeof content === "string") node.textContent = content;
      else content.forEach((c) => node.appendChild(c));
      return node;
    };
    let nodes;
    if (text === "inf" || text === "-inf" || text === "nan") {
      nodes = [make("mi", text === "nan" ? "NaN" : minus(text.replace("inf", "\u221e")))];
    } else if (text.includes("e")) {
      const [mantissa, exponent] = text.split("e");
      nodes = [make("mn", minus(mantissa)), make("mo", "\u00d7"), make("msup", [make("mn", "10"), make("mn", minus(String(Number(exponent))))])];
    } else {
      nodes = [make("mn", minus(text))];
    }
    if (operand && text.startsWith("-")) nodes = [make("mo", "("), ...nodes, make("mo", ")")];
    return nodes;
  }

  function show(element, value) {
    if (!printed.has(element)) printed.set(element, element.innerHTML);
    const text = format(value, DATA.digits);
    if (element.namespaceURI === MATHML) element.replaceChildren(...mathNodes(text, element.classList.contains("operand")));
    else element.textContent = text;
  }

  // -- every value, in float64 ----------------------------------------------------------------------
  function compute() {
    const shown = new Map();
    const per = samples.map((s) => values(params, s.inputs, s.targets));
    per.forEach((vals, s) => {
      const keys = DATA.sampleKeys ? DATA.sampleKeys[s] : QUANTITIES;
      vals.forEach((v, k) => shown.set(keys[k], v));
      DATA.inputKeys[s].forEach((key, j) => shown.set(key, samples[s].inputs[j]));
      DATA.targetKeys[s].forEach((key, j) => shown.set(key, samples[s].targets[j]));
    });
    const sum = (k) => DATA.scale * per.reduce((total, vals) => total + vals[k], 0);
    const batchSum = (k) => DATA.batchScale * DATA.batch.reduce((total, s) => total + per[s][k], 0);
    shown.set(DATA.errorKey, sum(DATA.error));
    Object.entries(HYPERPARAMETERS).forEach(([key, v]) => shown.set(key, v));
    PARAMETERS.forEach((name, i) => {
      // The first step as the engine takes it: the spec's optimizer (firstStep, printed from its rules)
      // on the first batch's gradient; a frozen parameter keeps its value.
      const update = DATA.updates[i];
      const g = sum(update.gradient);
      shown.set(name, params[name]);
      shown.set(QUANTITIES[update.gradient], g);
      if (!update.trained) {
        shown.set(update.after, params[name]);
        return;
      }
      const batchGradient = update.batchGradient ? batchSum(update.gradient) : g;
      if (update.batchGradient) shown.set(update.batchGradient, batchGradient);
      const assigned = firstStep(params[name], batchGradient);
      Object.entries(update.slots).forEach(([slot, key]) => shown.set(key, assigned[slot]));
      shown.set(update.after, assigned.p);
    });
    return shown;
  }

  // Every number under the roots, from one computation of the network (a chunk of 500 rows shown
  // after an edit is redrawn with one pass, not one pass a row).
  function redraw(...roots) {
    if (!edited) return;
    const shown = compute();
    window.deriveShown = shown;
    roots.forEach((root) => root.querySelectorAll("[data-value]").forEach((element) => {
      const key = element.getAttribute("data-value");
      if (shown.has(key)) show(element, shown.get(key));
      else element.classList.add("stale");
    }));
  }

  // -- selection ------------------------------------------------------------------------------------
  function select(name, focusPanel) {
    document.querySelectorAll(".on-path").forEach((e) => e.classList.remove("on-path"));
    document.querySelectorAll(".param.selected").forEach((e) => {
      e.classList.remove("selected");
      e.setAttribute("aria-pressed", "false");
    });
    (DATA.paths[name] || []).forEach((id) => {
      const e = document.getElementById(id);
      if (e) e.classList.add("on-path");
    });
    // the parameter's every edge (a shared weight's, at each position or step), by its data-parameter
    document.querySelectorAll('svg .param[data-parameter="' + name + '"]').forEach((element) => {
      element.classList.add("on-path", "selected");
      element.setAttribute("aria-pressed", "true");
    });
    const body = document.getElementById("derivation-body");
    const heading = document.getElementById("derivation-heading");
    heading.textContent = "Derivation of \u2202E_total/\u2202" + name;
    if (name in DATA.derivations) {
      body.innerHTML = '<div class="derivation">' + DATA.derivations[name].map((k) => document.getElementById("piece-" + k).textContent).join("") + "</div>";
      redraw(body);
    } else {
      body.innerHTML = "";
      const p = document.createElement("p");
      p.className = "hint";
      p.textContent = "This page carries the derivations of the parameters its diagram draws; " + name + "'s value and gradient are in the table of weights and biases.";
      body.appendChild(p);
    }
    current = name;
    document.body.setAttribute("data-selected", name);
    if (focusPanel) document.getElementById("derivation").focus({ preventScroll: true });
  }

  document.querySelectorAll("svg.network .param").forEach((element) => {
    element.setAttribute("aria-pressed", "false");
    element.addEventListener("click", () => select(element.getAttribute("data-parameter"), false));
    element.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        select(element.getAttribute("data-parameter"), false);
      }
    });
  });

  // -- the rest of a long table, on demand ------------------------------------------------------------
  document.querySelectorAll("button.more").forEach((button) => {
    button.addEventListener("click", () => {
      const table = button.closest("[data-table]");
      const chunk = table.querySelector("script.rows");
      const body = table.querySelector("tbody");
      const before = body.rows.length;
      body.insertAdjacentHTML("beforeend", chunk.textContent);
      chunk.remove();
      bind(body);
      redraw(...Array.from(body.rows).slice(before));
      const left = table.querySelectorAll("script.rows").length;
      if (!left) button.parentElement.remove();
    });
  });

  // -- edits ----------------------------------------------------------------------------------------
  function apply(input) {
    const key = input.getAttribute("data-edit");
    const target = DATA.edits[key] || ["parameter", key];
    const text = input.value.trim().replace("\u2212", "-");
    const value = Number(text);
    if (text === "" || !Number.isFinite(value)) {
      input.setAttribute("aria-invalid", "true");
      return;
    }
    input.removeAttribute("aria-invalid");
    if (target[0] === "parameter") params[target[1]] = value;
    else if (target[0] === "input") samples[target[1]].inputs[target[2]] = value;
    else samples[target[1]].targets[target[2]] = value;
    edited = true;
    const mode = document.getElementById("mode");
    mode.classList.add("edited");
    mode.textContent = "You edited " + key + ": every number on this page is now computed in your browser in float64 " +
      "(double precision), not exactly; the training curves still show the spec's run. Restore the spec's values to see the exact numbers again.";
    document.querySelectorAll("[data-edit]").forEach((other) => {
      const k = other.getAttribute("data-edit");
      if (other !== input && k === key) other.value = input.value;
    });
    redraw(document);
    document.body.setAttribute("data-edited", "true");
  }

  function bind(root) {
    root.querySelectorAll("input[data-edit]").forEach((input) => {
      input.inputMode = "decimal";
      input.spellcheck = false;
      input.addEventListener("change", () => apply(input));
      input.addEventListener("keydown", (event) => {
        if (event.key === "Enter") apply(input);
      });
    });
    root.querySelectorAll("button.pick").forEach((button) => {
      button.addEventListener("click", () => {
        select(button.getAttribute("data-parameter"), true);
        document.getElementById("derivation").scrollIntoView({ block: "nearest" });
      });
    });
  }
  bind(document);

  document.getElementById("reset").addEventListener("click", () => {
    Object.assign(params, DATA.params);
    DATA.samples.forEach((s, k) => {
      samples[k].inputs = s.inputs.slice();
      samples[k].targets = s.targets.slice();
    });
    document.querySelectorAll("input[data-edit]").forEach((input) => {
      const key = input.getAttribute("data-edit");
      const target = DATA.edits[key] || ["parameter", key];
      input.value = String(target[0] === "parameter" ? DATA.params[target[1]] : DATA.samples[target[1]][target[0] + "s"][target[2]]);
      input.removeAttribute("aria-invalid");
    });
    printed.forEach((html, element) => { element.innerHTML = html; });
    printed.clear();
    edited = false;
    const mode = document.getElementById("mode");
    mode.classList.remove("edited");
    mode.textContent = "Restored: the numbers printed on this page are exact again (correctly rounded to " + DATA.digits + " significant digits).";
    document.body.removeAttribute("data-edited");
    if (current) select(current, false);
  });

  select(DATA.first, false);
  document.body.setAttribute("data-ready", "true");
})();

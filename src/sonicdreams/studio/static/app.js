// sonicdreams studio — the browser page.
//
// Plain ES2020, no framework, no build step. The contract with the server (endpoints,
// element ids, message formats) is fixed; everything the server describes (options,
// styles, palettes, looks, presets) is built from /api/options so a new server option
// shows up here without page edits.
//
// Sections (search for "// ===="):
//   helpers · status/toasts · server calls · state · options/controls · style, look,
//   palette · songs · timeline · preview socket + display loop · gallery/thumbnails ·
//   scenes · config import/export · renders · keyboard & drag-and-drop · start-up

// ==== helpers ===========================================================================

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));
const hasOwn = (obj, key) => obj != null && Object.prototype.hasOwnProperty.call(obj, key);
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const isNum = (v) => typeof v === "number" && Number.isFinite(v);
const asArray = (v) => (Array.isArray(v) ? v : []);
const num = (v) => (isNum(v) ? v : null); // a number, or null when missing
const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

/** Create an element: el("button", {class: "btn", text: "Go", onclick: fn, dataset: {}}, ...kids). */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "style" && isObject(value)) Object.assign(node.style, value);
    else if (/^on/i.test(key)) {
      // event handlers are functions only: a string would become inline script
      if (typeof value === "function") node.addEventListener(key.slice(2).toLowerCase(), value);
    }
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** The selected mark of a toggle-like button, for the eye and for screen readers. */
function press(node, on) {
  node.classList.toggle("selected", on);
  node.setAttribute("aria-pressed", String(on));
}

/** A timeout for polling calls, so a hung request never stops the poll for good. */
const timeoutSignal = (ms = 10000) => (typeof AbortSignal.timeout === "function" ? AbortSignal.timeout(ms) : undefined);

/** "speed_fpm" → "speed fpm": option names as people read them. */
const humanName = (name) => String(name ?? "").replace(/_/g, " ");

/** Song time as "m:ss.s" (floored, like a clock: 59.96 s is 0:59.9, never 0:60.0). */
function fmtTime(seconds) {
  const tenths = Math.max(0, Math.floor((isNum(seconds) ? seconds : 0) * 10 + 1e-6));
  const minutes = Math.floor(tenths / 600);
  const rest = (tenths - minutes * 600) / 10;
  return `${minutes}:${rest.toFixed(1).padStart(4, "0")}`;
}

/** A duration as "m:ss" (ETA, elapsed). */
function fmtClock(seconds) {
  const s = Math.max(0, Math.round(isNum(seconds) ? seconds : 0));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** Show a number without float noise (0.30000000000000004 → 0.3). */
function fmtNumber(v) {
  if (!isNum(v)) return String(v ?? "");
  return String(Math.round(v * 1e6) / 1e6);
}

/** Round v to the slider's step grid (keeps the number box tidy while dragging). */
function snap(v, step) {
  if (!isNum(step) || step <= 0) return v;
  const decimals = Math.min(6, Math.max(0, -Math.floor(Math.log10(step)) + 1));
  return Number((Math.round(v / step) * step).toFixed(decimals));
}

/** Run fn at most once per `ms`, always with the latest state (the trailing call is kept). */
function coalesce(fn, ms) {
  let timer = null;
  return () => {
    if (timer !== null) return;
    timer = setTimeout(() => { timer = null; fn(); }, ms);
  };
}

/** Classic trailing debounce: fn runs once things have been quiet for `ms`. */
function debounce(fn, ms) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

/** Size a canvas's backing store to its CSS box × devicePixelRatio; returns CSS size. */
function fitCanvas(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const rect = canvas.getBoundingClientRect();
  const w = Math.max(1, Math.round(rect.width));
  const h = Math.max(1, Math.round(rect.height));
  const bw = Math.round(w * dpr);
  const bh = Math.round(h * dpr);
  if (canvas.width !== bw || canvas.height !== bh) {
    canvas.width = bw;
    canvas.height = bh;
  }
  return { w, h, dpr };
}

// ==== status / toasts ===================================================================
// Every error line from the server ends up here (id="status"), never a stack trace.

const statusBox = $("#status");
const recentToasts = new Map(); // message → time, so a repeating poll error shows once

function toast(message, kind = "error", ms = kind === "error" ? 8000 : 4000) {
  const text = String(message ?? "").trim() || "Something went wrong.";
  const now = Date.now();
  if (now - (recentToasts.get(text) ?? 0) < 4000) return; // the same line again: once is enough
  recentToasts.set(text, now);
  const item = el("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : null },
    el("span", { class: "toast-text", text }),
    el("button", { class: "toast-close", type: "button", "aria-label": "Dismiss", text: "×",
      onclick: () => item.remove() }));
  statusBox.append(item);
  while (statusBox.children.length > 4) statusBox.firstElementChild.remove();
  setTimeout(() => item.remove(), ms);
}

const showError = (err) => toast(err?.message ?? String(err), "error");

// ==== server calls ======================================================================

class ApiError extends Error {
  constructor(message, { timeout = false } = {}) {
    super(message);
    this.timeout = timeout; // the server did not answer in time (a poll may just try again)
  }
}

/**
 * Call the server. JSON answers are parsed; `{"error": "..."}` (or any non-2xx status)
 * throws an ApiError with the line meant for the user.
 */
async function api(path, { method = "GET", json, body, signal } = {}) {
  const init = { method, signal, headers: {} };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (body !== undefined) {
    init.body = body;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err?.name === "TimeoutError" || (err?.name === "AbortError" && signal?.reason?.name === "TimeoutError")) {
      throw new ApiError("The studio server did not answer in time — is it very busy?", { timeout: true });
    }
    if (err?.name === "AbortError") throw err;
    throw new ApiError("Cannot reach the studio server — is it still running?");
  }
  const type = response.headers.get("content-type") || "";
  let data = null;
  if (type.includes("json")) data = await response.json().catch(() => null);
  else data = await response.text().catch(() => "");
  if (isObject(data) && typeof data.error === "string" && data.error) throw new ApiError(data.error);
  if (!response.ok) {
    const line = typeof data === "string" && data.length < 200 && data.trim() ? data.trim() : "";
    throw new ApiError(line || `The server answered ${response.status} ${response.statusText}`.trim());
  }
  return data;
}

// ==== state =============================================================================

const audio = $("#audio");

const state = {
  options: null,              // the /api/options answer
  optionsByName: new Map(),   // option name → its description
  values: { style: "cppn", look: "default", palette: null, scenes: [] },
  song: null,                 // {id, name, duration_s}
  songReady: false,
  songToken: 0,               // bumped per song: stale polls and uploads stop themselves
  timeline: null,             // the /timeline answer
  selectedSection: null,      // section number whose scene is being edited
  xhr: null,                  // the upload in flight
  songsOpened: 0,             // songs that got ready in this page
  scenesFromFile: false,      // scenes imported since the last song: meant for the next one
};

// For tests and diagnostics (the contract): updated live, never replaced.
const studio = {
  fps: 0,
  generation: -1,
  drawn: { index: -1, generation: -1 },
  framesDrawn: 0,
  framesReceived: 0,
  lateFrames: 0,
  values: state.values,
};
window.studio = studio;

/** The page's values changed: tell the preview (soon) and refresh the thumbnails (later). */
function valuesChanged() {
  studio.values = state.values;
  sendSettingsSoon();
  refreshThumbnailsSoon();
  updateGroupBadges();
}

// ==== options / controls ================================================================
// One control per option, built from its description. A control shows the option's value
// when the user set it, otherwise the current look's value.

const controls = new Map(); // option name → control

function lookValue(opt) {
  const looks = opt?.looks;
  if (isObject(looks) && hasOwn(looks, state.values.look)) return looks[state.values.look];
  return opt?.default ?? null;
}

const effectiveValue = (opt) => (hasOwn(state.values, opt.name) ? state.values[opt.name] : lookValue(opt));

/** The smallest value a control offers: min, or one step above it when min itself is
 *  excluded (`min_open`: "more than 0"). */
function lowestValue(opt, step) {
  if (!isNum(opt.min)) return null;
  if (!opt.min_open) return opt.min;
  const by = isNum(step) && step > 0 ? step : isNum(opt.step) && opt.step > 0 ? opt.step : 1e-6;
  return Number((opt.min + by).toFixed(10));
}

/** A sensible value to start from when an optional (off) option is switched on. */
function startValue(opt) {
  if (opt.default !== null && opt.default !== undefined) return opt.default;
  switch (opt.kind) {
    case "bool": return true;
    case "choice": return asArray(opt.choices)[0] ?? "";
    case "fps": return asArray(state.options?.fps_choices)[0] ?? 30;
    case "number":
    case "integer": {
      const { min, max } = opt;
      if (isNum(min) && isNum(max)) return snap((min + max) / 2, opt.kind === "integer" ? 1 : opt.step ?? 0.01);
      return isNum(min) ? lowestValue(opt, opt.kind === "integer" ? 1 : opt.step) : 0;
    }
    default: return "";
  }
}

/** A bound as people read it: 2**63 → 2⁶³, no float noise. */
function boundText(v) {
  if (isNum(v)) return fmtNumber(v);
  const sup = { 0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹", "-": "⁻" };
  return String(v).trim().replace(/\*\*\s*(-?\d+)/g, (_, e) => [...e].map((c) => sup[c] ?? c).join(""));
}

/** "0 – 10", "more than 0", "0 or more"…: from a lower and an upper bound (either may be
 *  missing), each included or not. */
function rangeText(lo, loOpen, hi, hiOpen) {
  const hasLo = lo !== null && lo !== undefined && lo !== "";
  const hasHi = hi !== null && hi !== undefined && hi !== "";
  const low = hasLo ? (loOpen ? `more than ${boundText(lo)}` : `${boundText(lo)} or more`) : "";
  const high = hasHi ? (hiOpen ? `below ${boundText(hi)}` : `up to ${boundText(hi)}`) : "";
  if (hasLo && hasHi && !loOpen && !hiOpen) return `${boundText(lo)} – ${boundText(hi)}`;
  if (hasLo && hasHi) return `${low}, ${high}`;
  return low || high;
}

/** The option's range in words, from min/max/min_open when the server gives them, else
 *  read from its `span` ("[0, 10]", ">= 0", "(0, 1]"); a span of another shape is shown as is. */
function spanText(opt) {
  if (isNum(opt.min) || isNum(opt.max)) {
    return rangeText(num(opt.min), Boolean(opt.min_open), num(opt.max), false);
  }
  const span = typeof opt.span === "string" ? opt.span.trim() : "";
  if (span) {
    const interval = /^([[(])\s*([^,]+?)\s*,\s*([^,\])]+?)\s*([\])])$/.exec(span);
    if (interval) return rangeText(interval[2], interval[1] === "(", interval[3], interval[4] === ")");
    const compare = /^(>=|>|<=|<|≥|≤)\s*(\S+)$/.exec(span);
    if (compare) {
      const [, op, v] = compare;
      if (op === ">=" || op === "≥") return rangeText(v, false, null, false);
      if (op === ">") return rangeText(v, true, null, false);
      if (op === "<=" || op === "≤") return rangeText(null, false, v, false);
      return rangeText(null, false, v, true);
    }
    return span;
  }
  return ""; // (a choice's list is in its select)
}

// -- widgets: the input part of a control, one builder per kind.
// Each returns {node, get() → value | undefined (not a valid value yet), set(v), disable(b)}.

function numberWidget(opt, emit) {
  const integer = opt.kind === "integer";
  // a slider needs both bounds; over a huge range (a seed…) it would be useless
  const bounded = isNum(opt.min) && isNum(opt.max) && opt.max > opt.min && opt.max - opt.min <= 1e6;
  const step = integer ? Math.max(1, Math.round(opt.step ?? 1)) : (isNum(opt.step) && opt.step > 0 ? opt.step : null);
  const sliderStep = bounded ? step ?? snap((opt.max - opt.min) / 200, 1e-6) : step;
  const lowest = lowestValue(opt, sliderStep); // min, or a step above it when min is excluded
  const box = el("input", { type: "number", class: "num-box", id: `opt-${opt.name}`,
    min: lowest, max: isNum(opt.max) ? opt.max : null,
    step: step ?? "any", inputmode: integer ? "numeric" : "decimal" });
  let slider = null;
  if (bounded) {
    slider = el("input", { type: "range", class: "slider", min: lowest, max: opt.max, step: sliderStep,
      "aria-label": humanName(opt.name) });
    slider.addEventListener("input", () => {
      box.value = fmtNumber(Number(slider.value));
      paintSlider(slider);
      emit();
    });
  }
  box.addEventListener("input", () => {
    const v = Number(box.value);
    if (box.value.trim() === "" || !Number.isFinite(v)) return; // wait until it is a number
    if (slider) { slider.value = String(v); paintSlider(slider); }
    emit();
  });
  return {
    node: el("div", { class: bounded ? "num-row" : "num-row num-only" }, slider, box),
    get() {
      const v = Number(box.value);
      if (box.value.trim() === "" || !Number.isFinite(v)) return undefined;
      return integer ? Math.round(v) : v;
    },
    set(v) {
      const shown = isNum(v) ? v : Number(v);
      box.value = Number.isFinite(shown) ? fmtNumber(shown) : "";
      if (slider && Number.isFinite(shown)) { slider.value = String(shown); paintSlider(slider); }
    },
    disable(off) { box.disabled = off; if (slider) { slider.disabled = off; paintSlider(slider); } },
    focus() { (slider ?? box).focus(); },
  };
}

/** Range inputs: fill the track up to the thumb (a CSS variable the stylesheet uses). */
function paintSlider(slider) {
  const min = Number(slider.min), max = Number(slider.max), v = Number(slider.value);
  const pct = max > min ? ((v - min) / (max - min)) * 100 : 0;
  slider.style.setProperty("--fill", `${clamp(pct, 0, 100)}%`);
}

function boolWidget(opt, emit) {
  const input = el("input", { type: "checkbox", role: "switch", id: `opt-${opt.name}` });
  const label = el("span", { class: "switch-text", text: "off" });
  input.addEventListener("change", () => { label.textContent = input.checked ? "on" : "off"; emit(); });
  return {
    node: el("label", { class: "switch" }, input, el("span", { class: "switch-track" }), label),
    get: () => input.checked,
    set(v) { input.checked = Boolean(v); label.textContent = input.checked ? "on" : "off"; },
    disable(off) { input.disabled = off; },
    focus() { input.focus(); },
  };
}

/** An optional yes/no: "auto" (null: the server decides, as its default text says), on, off. */
function triBoolWidget(opt, emit, defaultText) {
  const select = el("select", { id: `opt-${opt.name}`, class: "tri-select" },
    el("option", { value: "auto", text: defaultText ? `auto — ${defaultText}` : "auto" }),
    el("option", { value: "on", text: "on" }),
    el("option", { value: "off", text: "off" }));
  select.addEventListener("change", emit);
  return {
    node: select,
    get: () => (select.value === "on" ? true : select.value === "off" ? false : null),
    set(v) { select.value = v === true ? "on" : v === false ? "off" : "auto"; },
    disable(off) { select.disabled = off; },
    focus() { select.focus(); },
  };
}

function choiceWidget(opt, emit, choices) {
  const list = asArray(choices);
  const select = el("select", { id: `opt-${opt.name}` });
  const fill = (extra) => {
    select.replaceChildren(...[...list, ...(extra === undefined ? [] : [extra])]
      .map((c, i) => el("option", { value: String(i), text: String(c) })));
  };
  fill();
  let current = list;
  select.addEventListener("change", emit);
  return {
    node: select,
    get: () => current[Number(select.value)],
    set(v) {
      // a value outside the list (e.g. from an imported file) is shown rather than lost
      let i = current.findIndex((c) => String(c) === String(v));
      if (i < 0 && v !== null && v !== undefined) {
        fill(v);
        current = [...list, v];
        i = current.length - 1;
      }
      select.value = String(Math.max(0, i));
    },
    disable(off) { select.disabled = off; },
    focus() { select.focus(); },
  };
}

/** Kind "text" and unknown kinds (a list such as 1,5,9; a seed…): a text box. Values stay
 *  text (a seed past 2⁵³ would lose digits as a JS number): the server reads them. */
function textWidget(opt, emit, placeholder) {
  const input = el("input", { type: "text", id: `opt-${opt.name}`, class: "text-box", spellcheck: "false",
    autocomplete: "off", placeholder: placeholder || null, title: placeholder ? `Empty: ${placeholder}` : null });
  input.addEventListener("change", emit);
  return {
    node: input,
    input,
    get() {
      const raw = input.value.trim();
      return raw === "" ? null : raw; // sent as typed: the server reads it as the command line does
    },
    set(v) { input.value = Array.isArray(v) ? v.join(",") : v === null || v === undefined ? "" : String(v); },
    disable(off) { input.disabled = off; },
    focus() { input.focus(); },
  };
}

const WIDGET_KINDS = new Set(["number", "integer", "bool", "choice", "fps"]);

function makeWidget(opt, emit, defaultText) {
  switch (opt.kind) {
    case "number":
    case "integer": return numberWidget(opt, emit);
    case "bool": return opt.optional ? triBoolWidget(opt, emit, defaultText) : boolWidget(opt, emit);
    case "choice": return choiceWidget(opt, emit, opt.choices);
    case "fps": return choiceWidget(opt, emit, state.options?.fps_choices ?? [24, 25, 30, 60]);
    default: return textWidget(opt, emit, defaultText);
  }
}

/** Whether an option has a value (an optional one is "unset" while null). */
const isUnset = (v) => v === null || v === undefined;

/**
 * One option's row: name, info, span, reset, the widget, help text and error line.
 *
 * Optional options (null = unset: the server's default applies, as its default_text says):
 * a yes/no one is a select "auto / on / off"; any other has a "set" checkbox. While unset a
 * text box stays empty with the default text as its placeholder (typing sets it, clearing
 * it unsets it); other widgets give way to the default text until "set" is ticked.
 */
function buildControl(opt) {
  const name = opt.name;
  const control = { opt, lastOn: undefined };
  const optional = Boolean(opt.optional);
  const isText = !WIDGET_KINDS.has(opt.kind);
  const checkable = optional && opt.kind !== "bool"; // optional bools: auto / on / off
  const defaultText = typeof opt.default_text === "string" ? opt.default_text.trim() : "";

  /** Back to unset: forget the value when the look has none, else send null (off). */
  const unset = () => {
    if (isUnset(lookValue(opt))) delete state.values[name];
    else state.values[name] = null;
    clearOptionError(name);
    control.refresh();
    valuesChanged();
  };

  const onUserInput = () => {
    const value = control.widget.get();
    if (value === undefined) return;
    if (value === null) { // a cleared box / "auto": unset (a required one: back to the look's)
      if (optional) unset(); else { delete state.values[name]; clearOptionError(name); control.refresh(); valuesChanged(); }
      return;
    }
    if (checkable && !control.onBox.checked) {
      if (!isText) return; // a hidden widget cannot change; a text box typed into sets it
      control.onBox.checked = true;
      control.root.classList.remove("is-off");
    }
    control.lastOn = value;
    state.values[name] = value;
    clearOptionError(name);
    control.refreshMarks();
    valuesChanged();
  };
  control.widget = makeWidget(opt, onUserInput, defaultText);

  const help = typeof opt.help === "string" ? opt.help : "";
  const span = spanText(opt);
  const reset = el("button", { type: "button", class: "link reset", text: "reset",
    title: "Back to the look's value" });
  reset.addEventListener("click", () => {
    delete state.values[name];
    clearOptionError(name);
    control.refresh();
    valuesChanged();
  });

  if (checkable) {
    control.onBox = el("input", { type: "checkbox", class: "on-box", "aria-label": `set ${humanName(name)}` });
    control.onBox.addEventListener("change", () => {
      if (!control.onBox.checked) { unset(); return; }
      const v = control.lastOn ?? startValue(opt);
      if (isText && (isUnset(v) || String(v).trim() === "")) {
        // nothing to send yet: the box is where the value is typed
        control.root.classList.remove("is-off");
        control.widget.focus();
        return;
      }
      control.widget.set(v);
      const got = control.widget.get();
      state.values[name] = isUnset(got) ? v : got;
      clearOptionError(name);
      control.refresh();
      valuesChanged();
      control.widget.focus();
    });
    if (isText) {
      // ticked, then left empty: it is not set, so the tick goes
      control.widget.input.addEventListener("blur", () => setTimeout(() => {
        if (document.activeElement !== control.widget.input && control.onBox.checked &&
            isUnset(effectiveValue(opt)) && control.widget.get() === null) control.refresh();
      }, 200));
    } else {
      control.unsetNote = el("button", { type: "button", class: "opt-unset", text: defaultText || "not set",
        title: "Not set: this is what happens. Click (or tick “set”) to choose a value." });
      control.unsetNote.addEventListener("click", () => { control.onBox.checked = true; control.onBox.dispatchEvent(new Event("change")); });
    }
  }

  const nameTitle = defaultText ? `${humanName(name)} — default: ${defaultText}` : humanName(name);
  control.root = el("div", { class: "opt", dataset: { option: name, kind: String(opt.kind ?? "") } },
    el("div", { class: "opt-head" },
      control.onBox ? el("label", { class: "on-label", title: "Tick to set a value; untick to leave it to the default" },
        control.onBox, "set") : null,
      el("label", { class: "opt-name", for: `opt-${name}`, text: humanName(name), title: nameTitle }),
      help ? el("span", { class: "info", title: help, "aria-label": help, text: "i" }) : null,
      el("span", { class: "grow" }),
      reset),
    span ? el("div", { class: "opt-span", text: span, title: typeof opt.span === "string" ? opt.span : "" }) : null,
    control.widget.node,
    control.unsetNote ?? null,
    help ? el("div", { class: "opt-help", text: help }) : null,
    el("div", { class: "opt-error", hidden: true }));

  control.refreshMarks = () => {
    const set = hasOwn(state.values, name);
    control.root.classList.toggle("is-set", set);
    reset.disabled = !set;
  };
  control.refresh = () => {
    const v = effectiveValue(opt);
    if (checkable) {
      const on = !isUnset(v);
      control.onBox.checked = on;
      if (on) control.lastOn = v;
      if (isText) {
        control.widget.set(on ? v : "");
      } else {
        control.widget.set(on ? v : control.lastOn ?? startValue(opt));
        control.widget.node.hidden = !on;
        control.unsetNote.hidden = on;
      }
      control.root.classList.toggle("is-off", !on);
    } else if (optional) {
      control.widget.set(isUnset(v) ? null : v); // auto / on / off
    } else {
      control.widget.set(v ?? startValue(opt));
    }
    control.refreshMarks();
  };
  controls.set(name, control);
  control.refresh();
  return control.root;
}

function buildOptionGroups(groups) {
  const box = $("#option-groups");
  box.replaceChildren();
  controls.clear();
  asArray(groups).forEach((group, i) => {
    if (!isObject(group)) return;
    const opts = asArray(group.options).filter((o) => isObject(o) && typeof o.name === "string");
    const details = el("details", { class: "group", dataset: { group: group.name ?? `group${i}` } },
      el("summary", {},
        el("span", { class: "group-title", text: group.title ?? humanName(group.name) }),
        el("span", { class: "group-count", text: `${opts.length} option${opts.length === 1 ? "" : "s"}` }),
        el("span", { class: "group-badge", hidden: true })),
      el("div", { class: "group-body" }, opts.map(buildControl)));
    details.open = group.name === "motion" || (i === 0 && !groups.some((g) => g?.name === "motion"));
    box.append(details);
  });
  updateGroupBadges();
}

/** "2 changed" on a group's title, so users see where their edits are. */
function updateGroupBadges() {
  for (const details of $$("#option-groups details.group")) {
    const changed = $$(".opt", details).filter((o) => hasOwn(state.values, o.dataset.option)).length;
    const badge = $(".group-badge", details);
    badge.hidden = changed === 0;
    badge.textContent = `${changed} changed`;
  }
}

function refreshAllControls() {
  for (const control of controls.values()) control.refresh();
  updateGroupBadges();
}

/** The render form's boxes the preview reads (the server may find them bad too). */
const FORM_BOXES = { width: "#render-width", height: "#render-height", fps: "#render-fps" };

/** A bad setting (server "error" message): mark its control red with the reason. */
function markOptionError(option, message) {
  if (!option) return;
  if (hasOwn(FORM_BOXES, option)) {
    const box = $(FORM_BOXES[option]);
    box.classList.add("invalid");
    box.title = message;
    return;
  }
  const target = $(`.opt[data-option="${CSS.escape(option)}"]`) ?? $(`[data-option="${CSS.escape(option)}"]`);
  if (!target) return;
  target.classList.add("invalid");
  const line = $(".opt-error", target);
  if (line) { line.textContent = message; line.hidden = false; }
  const group = target.closest("details.group");
  if (group) group.open = true;
}

function clearOptionError(option) {
  const formBoxes = Object.values(FORM_BOXES).map((sel) => $(sel));
  const nodes = option
    ? [...$$(`[data-option="${CSS.escape(option)}"]`), ...(hasOwn(FORM_BOXES, option) ? [$(FORM_BOXES[option])] : [])]
    : $$(".invalid");
  for (const node of nodes) {
    if (node.dataset.invalidLocal) continue; // the render form's own check: until that box is fixed
    node.classList.remove("invalid");
    if (formBoxes.includes(node)) node.removeAttribute("title");
    const line = $(".opt-error", node);
    if (line) { line.hidden = true; line.textContent = ""; }
  }
}

// ==== style, look, palette ==============================================================

function buildLooks(looks) {
  const box = $("#look-buttons");
  box.replaceChildren(...asArray(looks).filter(isObject).map((look) =>
    el("button", { type: "button", class: "seg", dataset: { look: look.name }, title: look.description ?? "",
      text: humanName(look.name),
      onclick: () => {
        state.values.look = look.name;
        refreshAllControls(); // options the user did not set now show this look's value
        updateLookMarks();
        clearOptionError("look");
        valuesChanged();
      } })));
  updateLookMarks();
}

function updateLookMarks() {
  const looks = asArray(state.options?.looks);
  for (const b of $$("#look-buttons .seg")) press(b, b.dataset.look === state.values.look);
  const current = looks.find((l) => l?.name === state.values.look);
  $("#look-desc").textContent = current?.description ?? "";
}

function buildPalettes(palettes) {
  const box = $("#palette-swatches");
  const auto = el("button", { type: "button", class: "palette-swatch auto", dataset: { palette: "" },
    title: "Auto: colours chosen per song and section from its key and energy" },
  el("span", { class: "swatch-bar" }), el("span", { class: "swatch-name", text: "Auto" }));
  const swatches = asArray(palettes).filter(isObject).map((p) => {
    // colours only (#rgb … #rrggbbaa): nothing else goes into the style
    const stops = asArray(p.stops).filter((s) => typeof s === "string" && /^#[0-9a-f]{3,8}$/i.test(s));
    const bar = el("span", { class: "swatch-bar" });
    if (stops.length) bar.style.background = `linear-gradient(90deg, ${stops.length > 1 ? stops.join(", ") : `${stops[0]}, ${stops[0]}`})`;
    return el("button", { type: "button", class: "palette-swatch", dataset: { palette: p.name },
      title: p.description ? `${p.name} — ${p.description}` : p.name },
    bar, el("span", { class: "swatch-name", text: p.name }));
  });
  box.replaceChildren(auto, ...swatches);
  box.addEventListener("click", (event) => {
    const swatch = event.target.closest(".palette-swatch");
    if (!swatch) return;
    state.values.palette = swatch.dataset.palette || null;
    updatePaletteMarks();
    clearOptionError("palette");
    valuesChanged();
  });
  updatePaletteMarks();
}

function updatePaletteMarks() {
  const current = state.values.palette ?? "";
  for (const s of $$("#palette-swatches .palette-swatch")) press(s, s.dataset.palette === current);
  const p = asArray(state.options?.palettes).find((x) => x?.name === current);
  $("#palette-desc").textContent = current
    ? `${current}${p?.description ? ` — ${p.description}` : ""}`
    : "Auto — colours chosen per song and section from its key and energy.";
}

// ==== songs =============================================================================

const busy = {
  show(title, detail = "") {
    $("#busy").hidden = false;
    $("#empty-state").hidden = true;
    $("#busy-title").textContent = title;
    $("#busy-detail").textContent = detail;
  },
  upload(fraction) {
    $("#upload-block").hidden = false;
    $("#analysis-block").hidden = true;
    const bar = $("#upload-progress");
    if (isNum(fraction)) bar.value = clamp(fraction, 0, 1); else bar.removeAttribute("value");
  },
  analysis(fraction) {
    $("#upload-block").hidden = true;
    $("#analysis-block").hidden = false;
    $("#analysis-progress").value = clamp(isNum(fraction) ? fraction : 0, 0, 1);
  },
  hide() { $("#busy").hidden = true; },
};

function songIsOpenUI(open) {
  $("#empty-state").hidden = open;
  $("#preview-frame").classList.toggle("has-song", open);
}

/** A file picked or dropped: a settings file is imported, anything else is a song. */
function openFile(file) {
  if (!file) return;
  if (/\.toml$/i.test(file.name)) {
    file.text().then(importConfigText, showError);
    return;
  }
  uploadSong(file);
}

/** The server's upload limit in bytes (null when it does not say). */
const uploadLimit = () => {
  const limit = num(state.options?.max_upload_bytes);
  return limit && limit > 0 ? limit : null;
};
const limitMB = (bytes) => fmtNumber(Math.round((bytes / (1024 * 1024)) * 10) / 10);

/** Upload with XMLHttpRequest: fetch() cannot report upload progress. */
function uploadSong(file) {
  const limit = uploadLimit();
  if (limit && file.size > limit) {
    // the server would refuse it after the whole upload: say so now
    toast(`${file.name} is larger than the studio takes (${limitMB(limit)} MB); start it with a larger --max-upload-mb`, "error");
    return;
  }
  const token = beginSongLoad();
  busy.show(`Uploading “${file.name}”…`, `${(file.size / 1e6).toFixed(1)} MB`);
  busy.upload(0);
  const xhr = new XMLHttpRequest();
  state.xhr = xhr;
  xhr.open("POST", `/api/songs?name=${encodeURIComponent(file.name)}`);
  xhr.upload.addEventListener("progress", (e) => {
    if (token === state.songToken) busy.upload(e.lengthComputable ? e.loaded / e.total : undefined);
  });
  xhr.addEventListener("load", () => {
    if (token !== state.songToken) return;
    let data = null;
    try { data = JSON.parse(xhr.responseText); } catch { data = null; }
    if (xhr.status >= 200 && xhr.status < 300 && isObject(data) && data.id && !data.error) {
      startSong(data, token);
    } else {
      const line = data?.error || (xhr.status === 413 ? "That file is too large." : `Upload failed (${xhr.status}).`);
      songFailed(line);
    }
  });
  xhr.addEventListener("error", () => {
    if (token !== state.songToken) return;
    // a server refusing a body that is too large may just drop the connection
    if (limit && file.size > limit * 0.5) {
      songFailed(`The upload of ${file.name} failed — it may be larger than the studio takes (${limitMB(limit)} MB); start it with a larger --max-upload-mb`);
    } else {
      songFailed("The upload failed — is the studio server still running?");
    }
  });
  xhr.send(file);
}

async function loadDemo() {
  const token = beginSongLoad();
  busy.show("Loading the demo song…");
  busy.upload(undefined);
  try {
    const info = await api("/api/songs/demo", { method: "POST" });
    if (token === state.songToken) startSong(info, token);
  } catch (err) {
    if (token === state.songToken) songFailed(err.message);
  }
}

/** Forget the current song (its socket, frames, polls) before another one loads. */
function beginSongLoad() {
  state.songToken += 1;
  socket.attempts = 0;
  clearThumbnails();
  // scenes name sections of the song they were made on; scenes from a settings file
  // imported since are kept for this song
  if (state.songsOpened > 0 && !state.scenesFromFile && scenes().length) {
    state.values.scenes = [];
    toast("Scenes belong to a song's sections: cleared for the new song", "info", 6000);
    valuesChanged();
  }
  state.scenesFromFile = false;
  if (state.xhr) { state.xhr.abort(); state.xhr = null; }
  audio.pause();
  state.song = null;
  state.songReady = false;
  state.timeline = null;
  state.selectedSection = null;
  closePreview();
  clearFrames();
  clearPreviewCanvas();
  audio.removeAttribute("src");
  audio.load();
  songIsOpenUI(false);
  $("#song-name").textContent = "Opening…";
  $("#song-meta").textContent = "";
  $("#section-display").textContent = "";
  $("#preview-wait").hidden = true;
  $("#play-button").disabled = true;
  updateRenderAvailability();
  renderSections();
  drawTimelineBase();
  return state.songToken;
}

function songFailed(message) {
  busy.hide();
  toast(message, "error");
  state.song = null;
  $("#song-name").textContent = "No song open";
  $("#song-meta").textContent = "That song could not be opened — try another file";
  songIsOpenUI(false);
}

function startSong(info, token) {
  state.song = { id: String(info.id), name: info.name ?? "song", duration_s: num(info.duration_s) };
  $("#song-name").textContent = state.song.name;
  $("#song-meta").textContent = state.song.duration_s ? `${fmtTime(state.song.duration_s)} · analysing…` : "analysing…";
  busy.show("Analysing…", "Finding the beats, the sections and the energy of the song");
  busy.analysis(0);
  pollAnalysis(token);
}

/** Poll the analysis every 250 ms until the song is ready (or failed). */
async function pollAnalysis(token) {
  let timeouts = 0;
  while (token === state.songToken) {
    let info;
    try {
      info = await api(`/api/songs/${encodeURIComponent(state.song.id)}`, { signal: timeoutSignal() });
      timeouts = 0;
    } catch (err) {
      if (token !== state.songToken) return;
      if (err.timeout && ++timeouts < 6) continue; // a busy server: ask again
      songFailed(err.message);
      return;
    }
    if (token !== state.songToken) return;
    const stateName = info?.state;
    if (stateName === "failed") { songFailed(info?.error || "The song could not be analysed."); return; }
    if (stateName === "ready") { await songReady(info, token); return; }
    busy.analysis(info?.progress);
    $("#busy-detail").textContent = `Finding the beats, the sections and the energy of the song · ${Math.round(clamp(num(info?.progress) ?? 0, 0, 1) * 100)}%`;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function songReady(info, token) {
  busy.analysis(1);
  if (num(info?.duration_s)) state.song.duration_s = info.duration_s;
  let timeline;
  try {
    timeline = await api(`/api/songs/${encodeURIComponent(state.song.id)}/timeline`);
  } catch (err) {
    if (token === state.songToken) songFailed(err.message);
    return;
  }
  if (token !== state.songToken) return;
  state.timeline = isObject(timeline) ? timeline : {};
  state.songReady = true;
  state.songsOpened += 1;
  busy.hide();
  songIsOpenUI(true);
  audio.src = `/api/songs/${encodeURIComponent(state.song.id)}/audio`;
  audio.load();
  $("#play-button").disabled = false;
  const duration = songDuration();
  const tempo = num(state.timeline.tempo_bpm);
  const sections = asArray(state.timeline.sections).length;
  $("#song-meta").textContent = [fmtTime(duration), tempo ? `${Math.round(tempo)} BPM` : null,
    sections ? `${sections} section${sections === 1 ? "" : "s"}` : null].filter(Boolean).join(" · ");
  previewWait("Preparing the preview…");
  drawTimelineBase();
  renderSections();
  updateRenderAvailability();
  openPreview();
  refreshThumbnailsNow();
}

function songDuration() {
  return num(state.timeline?.duration_s) ?? num(state.song?.duration_s) ??
    (Number.isFinite(audio.duration) ? audio.duration : 0);
}

// ==== timeline ==========================================================================
// A static picture (envelopes, beats, sections) is drawn into an offscreen canvas when
// the data, the size or the scenes change; every animation frame only copies it and adds
// the playhead and the hover line.

const timelineCanvas = $("#timeline");
const timelineBase = document.createElement("canvas");
const STRIP = 22;   // the sections strip at the top
const AXIS = 18;    // time labels at the bottom
const timelineView = { hoverX: null, lastKey: "" };

const COLORS = {
  perc: "255, 150, 60",
  harm: "#5aa9ff",
  accent: "143, 124, 255",
};

function sectionsList() {
  return asArray(state.timeline?.sections).filter((s) => isObject(s) && isNum(s.start) && isNum(s.end));
}

function sectionAt(t) {
  const list = sectionsList();
  return list.find((s) => t >= s.start && t < s.end) ?? (t >= (list.at(-1)?.end ?? Infinity) ? list.at(-1) : null);
}

const sectionNumber = (s, i) => (isNum(s?.index) ? s.index : i + 1);

function drawTimelineBase() {
  const { w, h, dpr } = fitCanvas(timelineCanvas);
  timelineBase.width = timelineCanvas.width;
  timelineBase.height = timelineCanvas.height;
  const ctx = timelineBase.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  timelineView.lastKey = ""; // force the composite to redraw

  const tl = state.timeline;
  const duration = songDuration();
  const plotTop = STRIP + 4, plotBottom = h - AXIS, plotH = Math.max(10, plotBottom - plotTop);
  ctx.fillStyle = "rgba(255,255,255,0.025)";
  ctx.fillRect(0, 0, w, STRIP);
  if (!tl || !duration) {
    ctx.fillStyle = "rgba(220,225,235,0.35)";
    ctx.font = "13px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(state.song ? "Analysing the song…" : "The song's beats and sections will appear here", w / 2, (plotTop + plotBottom) / 2);
    delete timelineCanvas.dataset.ready;
    return;
  }
  const x = (t) => (t / duration) * w;

  // sections: alternating bands, the strip with their numbers, a strong line at each boundary
  const sections = sectionsList();
  sections.forEach((s, i) => {
    const k = sectionNumber(s, i);
    const x0 = x(s.start), x1 = x(s.end);
    const hasScene = Boolean(sceneRow(k));
    const selected = state.selectedSection === k;
    ctx.fillStyle = i % 2 ? "rgba(255,255,255,0.045)" : "rgba(255,255,255,0.015)";
    ctx.fillRect(x0, plotTop, x1 - x0, plotH);
    ctx.fillStyle = selected ? `rgba(${COLORS.accent},0.55)` : hasScene ? `rgba(${COLORS.accent},0.28)`
      : i % 2 ? "rgba(255,255,255,0.09)" : "rgba(255,255,255,0.05)";
    ctx.fillRect(x0 + 1, 1, Math.max(1, x1 - x0 - 2), STRIP - 2);
    if (hasScene) {
      ctx.fillStyle = `rgba(${COLORS.accent},0.08)`;
      ctx.fillRect(x0, plotTop, x1 - x0, plotH);
    }
    if (selected) {
      ctx.strokeStyle = `rgba(${COLORS.accent},0.95)`;
      ctx.lineWidth = 1.5;
      ctx.strokeRect(x0 + 1.5, 1.5, Math.max(1, x1 - x0 - 3), STRIP - 3);
    }
    ctx.fillStyle = selected || hasScene ? "#fff" : "rgba(230,233,240,0.75)";
    ctx.font = "600 11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    ctx.textAlign = x1 - x0 > 26 ? "left" : "center";
    const label = hasScene && x1 - x0 > 40 ? `${k} ●` : String(k);
    if (x1 - x0 > 10) ctx.fillText(label, x1 - x0 > 26 ? x0 + 7 : (x0 + x1) / 2, STRIP / 2 + 0.5);
  });

  // beats: faint thin ticks
  ctx.fillStyle = "rgba(255,255,255,0.09)";
  for (const t of asArray(tl.beats)) {
    if (!isNum(t)) continue;
    ctx.fillRect(Math.round(x(t)), plotTop, 1, plotH);
  }

  // percussive (filled, orange) and harmonic (line, blue) envelopes
  const times = asArray(tl.times);
  const points = (values) => {
    const pts = [];
    const n = Math.min(times.length, asArray(values).length);
    for (let i = 0; i < n; i++) {
      if (!isNum(times[i]) || !isNum(values[i])) continue;
      pts.push([x(times[i]), plotBottom - clamp(values[i], 0, 1) * plotH * 0.94]);
    }
    return pts;
  };
  const tracePath = (pts) => {
    ctx.beginPath();
    pts.forEach(([px, py], i) => (i ? ctx.lineTo(px, py) : ctx.moveTo(px, py)));
  };
  const perc = points(tl.percussive);
  if (perc.length) {
    const grad = ctx.createLinearGradient(0, plotTop, 0, plotBottom);
    grad.addColorStop(0, `rgba(${COLORS.perc},0.55)`);
    grad.addColorStop(1, `rgba(${COLORS.perc},0.18)`);
    tracePath(perc);
    ctx.lineTo(perc.at(-1)[0], plotBottom);
    ctx.lineTo(perc[0][0], plotBottom);
    ctx.closePath();
    ctx.fillStyle = grad;
    ctx.fill();
    tracePath(perc); // the outline on top only, not along the floor
    ctx.strokeStyle = `rgba(${COLORS.perc},0.8)`;
    ctx.lineWidth = 1;
    ctx.stroke();
  }
  const harm = points(tl.harmonic);
  if (harm.length) {
    tracePath(harm);
    ctx.strokeStyle = COLORS.harm;
    ctx.lineWidth = 1.6;
    ctx.lineJoin = "round";
    ctx.stroke();
  }

  // section boundaries: strong lines across everything
  ctx.fillStyle = "rgba(235,238,245,0.55)";
  sections.forEach((s, i) => { if (i > 0) ctx.fillRect(Math.round(x(s.start)) - 0.5, 0, 1.5, plotBottom); });

  // time labels
  ctx.fillStyle = "rgba(255,255,255,0.06)";
  ctx.fillRect(0, plotBottom, w, 1);
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600];
  const step = steps.find((s) => (s / duration) * w >= 64) ?? 600;
  ctx.font = "10.5px ui-monospace, SFMono-Regular, Menlo, monospace";
  ctx.textBaseline = "middle";
  ctx.textAlign = "center";
  for (let t = 0; t <= duration + 1e-6; t += step) {
    const px = x(t);
    ctx.fillStyle = "rgba(255,255,255,0.18)";
    ctx.fillRect(Math.round(px), plotBottom, 1, 4);
    ctx.fillStyle = "rgba(200,205,215,0.6)";
    const label = fmtClock(t);
    const tw = ctx.measureText(label).width;
    ctx.fillText(label, clamp(px, tw / 2 + 2, w - tw / 2 - 2), plotBottom + AXIS / 2 + 1);
  }
  timelineCanvas.dataset.ready = "1";
}

/** Per animation frame: the base picture + playhead + hover line (only when they moved). */
function drawTimelineFrame() {
  const duration = songDuration();
  const t = audio.currentTime || 0;
  const key = `${timelineCanvas.width}x${timelineCanvas.height}|${t.toFixed(3)}|${timelineView.hoverX}|${duration}`;
  if (key === timelineView.lastKey) return;
  timelineView.lastKey = key;
  const ctx = timelineCanvas.getContext("2d");
  const dpr = window.devicePixelRatio || 1;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, timelineCanvas.width, timelineCanvas.height);
  if (timelineBase.width && timelineBase.height) ctx.drawImage(timelineBase, 0, 0);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const w = timelineCanvas.width / dpr, h = timelineCanvas.height / dpr;
  if (timelineView.hoverX !== null) {
    ctx.fillStyle = "rgba(255,255,255,0.35)";
    ctx.fillRect(Math.round(timelineView.hoverX), STRIP, 1, h - STRIP - AXIS);
  }
  if (state.songReady && duration > 0) {
    const px = Math.round((clamp(t, 0, duration) / duration) * w);
    ctx.fillStyle = "#fff";
    ctx.fillRect(px - 1, 0, 2, h - AXIS);
    ctx.beginPath();
    ctx.moveTo(px - 5, 0);
    ctx.lineTo(px + 5, 0);
    ctx.lineTo(px, 6);
    ctx.closePath();
    ctx.fill();
  }
}

function timelinePoint(event) {
  const rect = timelineCanvas.getBoundingClientRect();
  const px = clamp(event.clientX - rect.left, 0, rect.width);
  const duration = songDuration();
  return { px, y: event.clientY - rect.top, t: duration ? (px / rect.width) * duration : 0, width: rect.width };
}

function setupTimelineEvents() {
  const hover = $("#timeline-hover");
  let scrubbing = false;
  const seekTo = (t) => {
    if (!state.songReady) return;
    audio.currentTime = clamp(t, 0, Math.max(0, songDuration() - 0.01));
  };
  timelineCanvas.addEventListener("pointermove", (event) => {
    if (!state.timeline) { hover.hidden = true; return; }
    const p = timelinePoint(event);
    const inStrip = p.y < STRIP;
    timelineView.hoverX = p.px;
    const section = sectionAt(p.t);
    const k = section ? sectionNumber(section, sectionsList().indexOf(section)) : null;
    hover.textContent = inStrip && k !== null ? `Section ${k} · click to edit its scene` : fmtTime(p.t);
    hover.hidden = false;
    const half = hover.offsetWidth / 2;
    hover.style.left = `${clamp(p.px, half, p.width - half)}px`;
    timelineCanvas.style.cursor = inStrip && k !== null ? "pointer" : "col-resize";
    if (scrubbing) seekTo(p.t);
  });
  timelineCanvas.addEventListener("pointerleave", () => {
    timelineView.hoverX = null;
    hover.hidden = true;
  });
  timelineCanvas.addEventListener("pointerdown", (event) => {
    if (!state.timeline || event.button !== 0) return;
    const p = timelinePoint(event);
    if (p.y < STRIP) {
      const section = sectionAt(p.t);
      if (section) selectSection(sectionNumber(section, sectionsList().indexOf(section)));
      return;
    }
    scrubbing = true;
    timelineCanvas.setPointerCapture(event.pointerId);
    seekTo(p.t);
  });
  const stop = () => { scrubbing = false; };
  timelineCanvas.addEventListener("pointerup", stop);
  timelineCanvas.addEventListener("pointercancel", stop);
}

// ==== preview socket + display loop =====================================================
// The server streams JPEG frames tagged (generation, index). The page shows, at each
// animation frame, the newest generation's frame for the audio clock — never one from the
// future while playing — so picture and sound stay in step whatever the network does.

const previewCanvas = $("#preview");
const socket = { ws: null, retry: null, lostShown: false, attempts: 0 };
const frames = {
  plans: new Map(),        // generation → plan
  active: -1,              // the generation whose frames are kept (newest that sent a frame)
  waitError: false,        // the wait text shows a settings error (no plan yet)
  store: new Map(),        // frame index → ImageBitmap (generation `active` only)
  shown: null,             // {bitmap, index, generation, evicted}
  aspect: 1,               // width / height of the preview
};
const MAX_FRAMES = 300;    // memory bound: ~75 MB of 256×256 bitmaps

function previewUrl(songId) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}/api/preview?song=${encodeURIComponent(songId)}`;
}

function openPreview() {
  closePreview();
  if (!state.songReady || !state.song) return;
  const token = state.songToken;
  const ws = new WebSocket(previewUrl(state.song.id));
  ws.binaryType = "arraybuffer";
  socket.ws = ws;
  ws.addEventListener("open", () => {
    if (socket.ws !== ws) return;
    // a fresh connection numbers its generations afresh: forget the old ones' frames
    resetGenerations();
    socket.attempts = 0;
    if (socket.lostShown) toast("Preview reconnected.", "info", 2500);
    socket.lostShown = false;
    sendSettings();
    sendClock();
  });
  ws.addEventListener("message", (event) => {
    if (socket.ws !== ws) return;
    if (typeof event.data === "string") onPreviewText(event.data);
    else onPreviewFrame(ws, event.data);
  });
  ws.addEventListener("close", (event) => {
    if (socket.ws !== ws) return; // closed on purpose (another song, or page leaving)
    socket.ws = null;
    if (token !== state.songToken || !state.songReady) return;
    if (event.code === 4404 || event.code === 4403) {
      // the server does not know this song (any more) or refuses this page: retrying won't help
      toast(event.reason || "This song is no longer open on the studio server — open it again.", "error");
      previewWait("Preview unavailable — open the song again", false);
      return;
    }
    if (event.code === 4409) {
      // this session's preview moved to another tab (one a session): retrying would take it back
      previewWait("The preview is open in another tab — reload this page to bring it here", false);
      return;
    }
    // anything else (the server restarting, its preview thread failing: 1011…): try again,
    // waiting a little longer each time
    if (!socket.lostShown) toast("Preview connection lost — reconnecting…", "info", 3000);
    socket.lostShown = true;
    socket.attempts += 1;
    const delay = Math.min(10000, 1000 * socket.attempts);
    socket.retry = setTimeout(() => { if (token === state.songToken) openPreview(); }, delay);
  });
}

function closePreview() {
  clearTimeout(socket.retry);
  socket.retry = null;
  const ws = socket.ws;
  socket.ws = null; // before close(): the close handler then knows it was on purpose
  if (ws && ws.readyState <= WebSocket.OPEN) ws.close();
}

function send(message) {
  const ws = socket.ws;
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
}

function sendSettings() {
  send({ type: "settings", values: previewValues() });
}

/** The settings with the render form's size and frame rate: the preview has the video's
 *  shape and timing (the server scales it to preview size). */
function previewValues() {
  return { ...state.values, ...videoValues() };
}

/** Width, height and fps from the render form (only those that are valid). */
function videoValues() {
  const out = {};
  const width = Math.round(Number($("#render-width").value));
  const height = Math.round(Number($("#render-height").value));
  if (width >= 16 && height >= 16 && width <= 8192 && height <= 8192) {
    out.width = width;
    out.height = height;
  }
  const fpsRaw = $("#render-fps").value;
  if (fpsRaw) out.fps = Number.isFinite(Number(fpsRaw)) ? Number(fpsRaw) : fpsRaw;
  return out;
}

/** Start and length of the clip from the render form; null if they are not numbers. */
function clipValues() {
  const startRaw = $("#render-start").value.trim();
  const durationRaw = $("#render-duration").value.trim();
  const start = startRaw === "" ? 0 : Number(startRaw);
  const duration = durationRaw === "" ? null : Number(durationRaw);
  if (!Number.isFinite(start) || (duration !== null && !Number.isFinite(duration))) return null;
  return { start, duration };
}
const sendSettingsSoon = coalesce(sendSettings, 40); // ≤ 60 ms after a change, even mid-drag

function sendClock() {
  send({ type: "clock", t: audio.currentTime || 0, playing: !audio.paused });
}

function onPreviewText(text) {
  let msg;
  try { msg = JSON.parse(text); } catch { return; }
  if (!isObject(msg)) return;
  if (msg.type === "plan") {
    const g = isNum(msg.generation) ? msg.generation : studio.generation + 1;
    frames.plans.set(g, msg);
    // plans that never sent a frame (settings changed faster than frames came) go too
    while (frames.plans.size > 16) frames.plans.delete(Math.min(...[...frames.plans.keys()].filter((k) => k !== frames.active)));
    studio.generation = g;
    if (isNum(msg.fps) && msg.fps > 0) studio.fps = msg.fps;
    // a plan of the page's settings: the server accepted them (a plan the server made to
    // change the preview's size reuses the last good ones, and says so)
    if (msg.reason !== "size") clearOptionError(null);
    if (frames.active < 0) {
      setPreviewAspect(msg.width, msg.height);
      if (frames.waitError) previewWait("Preparing the preview…");
    }
  } else if (msg.type === "error") {
    const line = msg.message || "That setting cannot be used.";
    toast(line, "error");
    markOptionError(msg.option, line);
    if (frames.active < 0) previewWait(`No preview: ${line}`, false, true); // nothing to keep showing
  }
}

/** The text over the preview while there is no picture (spinning: still coming). */
function previewWait(text, spinning = true, isError = false) {
  $("#preview-wait").hidden = false;
  $("#preview-wait").classList.toggle("stopped", !spinning);
  $("#preview-wait-text").textContent = text;
  frames.waitError = isError;
}

/** A new connection numbers generations from the start again: forget the old ones (the
 *  picture on screen stays until a new frame replaces it). */
function resetGenerations() {
  clearFrames();
  frames.plans.clear();
  frames.active = -1;
  studio.generation = -1;
  studio.drawn = { index: -1, generation: -1 };
}

/** Forget every stored frame (the one on screen stays on screen). */
function clearFrames() {
  for (const bitmap of frames.store.values()) release(bitmap);
  frames.store.clear();
}

/** Close a bitmap — except the one on screen, which is closed once replaced. */
function release(bitmap) {
  if (frames.shown && frames.shown.bitmap === bitmap) frames.shown.evicted = true;
  else bitmap?.close?.();
}

async function onPreviewFrame(ws, buffer) {
  if (!(buffer instanceof ArrayBuffer) || buffer.byteLength <= 8) return;
  const head = new DataView(buffer, 0, 8);
  const generation = head.getUint32(0, true);
  const index = head.getUint32(4, true);
  studio.framesReceived += 1;
  const now = performance.now();
  stats.received.push(now);
  while (stats.received.length && now - stats.received[0] > 1000) stats.received.shift();
  if (generation < frames.active) return; // an older plan's frame: never shown again
  if (!audio.paused) {
    // already behind the clock: not worth decoding
    const planFps = frames.plans.get(generation)?.fps;
    const fps = isNum(planFps) && planFps > 0 ? planFps : fpsNow();
    const want = fps > 0 ? Math.floor((audio.currentTime || 0) * fps + 1e-6) : 0;
    if (index < want - 2) { studio.lateFrames += 1; return; }
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(new Blob([new Uint8Array(buffer, 8)], { type: "image/jpeg" }));
  } catch {
    return; // a broken JPEG: skip it, the next one will do
  }
  // decoding is asynchronous: the world may have moved on meanwhile
  if (generation < frames.active || socket.ws !== ws) { bitmap.close(); return; }
  if (generation > frames.active) {
    // the first frame of a newer plan: drop everything older, switch to it
    clearFrames();
    frames.active = generation;
    for (const g of frames.plans.keys()) if (g < generation) frames.plans.delete(g);
    const plan = frames.plans.get(generation);
    setPreviewAspect(plan?.width ?? bitmap.width, plan?.height ?? bitmap.height);
  }
  const want = wantIndex();
  if (!audio.paused && index < want) studio.lateFrames += 1;
  if (index < want - 2 && !audio.paused) { bitmap.close(); return; } // too late to be shown
  const old = frames.store.get(index);
  if (old && old !== bitmap) release(old);
  frames.store.set(index, bitmap);
  if (frames.store.size > MAX_FRAMES) evictFarthest(want);
}

function evictFarthest(want) {
  const keys = [...frames.store.keys()].sort((a, b) => Math.abs(b - want) - Math.abs(a - want));
  for (const k of keys.slice(0, frames.store.size - MAX_FRAMES)) {
    release(frames.store.get(k));
    frames.store.delete(k);
  }
}

const fpsNow = () => {
  const fps = frames.plans.get(frames.active)?.fps;
  return isNum(fps) && fps > 0 ? fps : studio.fps;
};

/** The frame the audio clock asks for (the contract's formula). */
function wantIndex() {
  const fps = fpsNow();
  return fps > 0 ? Math.floor((audio.currentTime || 0) * fps + 1e-6) : 0;
}

/** Which stored frame to show: ≤ want while playing; the closest one while paused. */
function pickFrame(want, playing) {
  if (frames.store.has(want)) return want; // the exact one, whenever we have it
  let best = null;
  for (const i of frames.store.keys()) {
    if (playing) {
      if (i <= want && (best === null || i > best)) best = i;
    } else if (best === null || Math.abs(i - want) < Math.abs(best - want) ||
               (Math.abs(i - want) === Math.abs(best - want) && i < best)) {
      best = i;
    }
  }
  return best;
}

function setPreviewAspect(width, height) {
  if (!isNum(width) || !isNum(height) || width <= 0 || height <= 0) return;
  const aspect = width / height;
  if (Math.abs(aspect - frames.aspect) < 1e-3) return;
  frames.aspect = aspect;
  layoutPreview();
}

/** Fit the preview: longest side up to 512 CSS px, within the space the column has. */
function layoutPreview() {
  const area = $("#preview-area");
  const availW = Math.max(120, area.clientWidth - 24);
  const availH = Math.max(120, area.clientHeight - 24);
  const longest = Math.min(512, Math.max(availW, availH));
  let w = frames.aspect >= 1 ? longest : longest * frames.aspect;
  let h = frames.aspect >= 1 ? longest / frames.aspect : longest;
  const scale = Math.min(1, availW / w, availH / h);
  w = Math.round(w * scale);
  h = Math.round(h * scale);
  const frame = $("#preview-frame");
  frame.style.width = `${w}px`;
  frame.style.height = `${h}px`;
  fitCanvas(previewCanvas);
  if (frames.shown?.bitmap) paintBitmap(frames.shown.bitmap);
}

function paintBitmap(bitmap) {
  const ctx = previewCanvas.getContext("2d");
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  try {
    ctx.drawImage(bitmap, 0, 0, previewCanvas.width, previewCanvas.height);
  } catch {
    // a closed bitmap cannot be drawn: leave what is on screen
  }
}

function clearPreviewCanvas() {
  if (frames.shown?.evicted) frames.shown.bitmap?.close?.();
  frames.shown = null;
  studio.drawn = { index: -1, generation: -1 };
  const ctx = previewCanvas.getContext("2d");
  ctx.clearRect(0, 0, previewCanvas.width, previewCanvas.height);
}

function showFrame(index) {
  const bitmap = frames.store.get(index);
  if (!bitmap) return;
  paintBitmap(bitmap);
  const previous = frames.shown;
  if (previous && previous.evicted && previous.bitmap !== bitmap) previous.bitmap?.close?.();
  frames.shown = { bitmap, index, generation: frames.active, evicted: false };
  studio.drawn = { index, generation: frames.active };
  studio.framesDrawn += 1;
  stats.drawn.push(performance.now());
  $("#preview-wait").hidden = true;
  frames.waitError = false;
}

// rates for the diagnostics overlay: timestamps of the last second
const stats = { received: [], drawn: [], offset: 0 };

function displayLoop() {
  requestAnimationFrame(displayLoop);
  if (frames.active >= 0 && frames.store.size) {
    const want = wantIndex();
    const playing = !audio.paused;
    const pick = pickFrame(want, playing);
    if (pick !== null && (pick !== studio.drawn.index || frames.active !== studio.drawn.generation)) showFrame(pick);
    // frames already behind the clock will never be wanted again while playing on
    for (const [i, bitmap] of frames.store) {
      if (i < want - 2) { release(bitmap); frames.store.delete(i); }
    }
    stats.offset = studio.drawn.index >= 0 ? want - studio.drawn.index : 0;
  }
  drawTimelineFrame();
  updateTimeDisplay();
  updateDebugOverlay();
}

let debugVisible = false;
function updateDebugOverlay() {
  const now = performance.now();
  for (const list of [stats.received, stats.drawn]) while (list.length && now - list[0] > 1000) list.shift();
  if (!debugVisible) return;
  const box = $("#debug-overlay");
  box.textContent = [
    `received ${stats.received.length} fps · drawn ${stats.drawn.length} fps`,
    `offset ${stats.offset} frame${Math.abs(stats.offset) === 1 ? "" : "s"} (want − drawn)`,
    `generation ${studio.generation} · shown ${studio.drawn.generation}:${studio.drawn.index}`,
    `stored ${frames.store.size} · late ${studio.lateFrames} · plan ${fmtNumber(studio.fps)} fps`,
  ].join("\n");
}

function toggleDebug() {
  debugVisible = !debugVisible;
  $("#debug-overlay").hidden = !debugVisible;
}

let lastTimeText = "";
function updateTimeDisplay() {
  const text = `${fmtTime(audio.currentTime || 0)} / ${fmtTime(songDuration())}`;
  if (text !== lastTimeText) {
    lastTimeText = text;
    $("#time-display").textContent = text;
    const section = state.timeline ? sectionAt(audio.currentTime || 0) : null;
    $("#section-display").textContent = section ? `section ${sectionNumber(section, sectionsList().indexOf(section))}` : "";
  }
}

// -- transport: play/pause and the clock messages

let clockTimer = null;

function setupTransport() {
  const button = $("#play-button");
  button.addEventListener("click", togglePlay);
  audio.addEventListener("play", () => {
    button.classList.add("playing");
    button.setAttribute("aria-label", "Pause");
    sendClock();
    clearInterval(clockTimer);
    clockTimer = setInterval(sendClock, 100); // the server streams ahead of this clock
  });
  const stopped = () => {
    button.classList.remove("playing");
    button.setAttribute("aria-label", "Play");
    clearInterval(clockTimer);
    clockTimer = null;
    sendClock();
  };
  audio.addEventListener("pause", stopped);
  audio.addEventListener("ended", stopped);
  audio.addEventListener("seeked", sendClock);
  audio.addEventListener("error", () => {
    if (state.songReady && audio.getAttribute("src")) toast("The browser cannot play this song's audio.", "error");
  });
}

function togglePlay() {
  if (!state.songReady) return;
  if (audio.paused) audio.play().catch((err) => { if (err?.name !== "AbortError") showError(err); });
  else audio.pause();
}

// ==== gallery / thumbnails ==============================================================

function buildGallery(styles) {
  const box = $("#style-gallery");
  box.replaceChildren(...asArray(styles).filter(isObject).map((style) =>
    el("button", { type: "button", class: "style-card", dataset: { style: style.name },
      title: style.description ?? style.name },
    el("span", { class: "thumb", "data-initial": String(style.name ?? "?").slice(0, 1).toUpperCase() },
      el("img", { alt: `${style.name} preview`, loading: "lazy", decoding: "async" })),
    el("span", { class: "card-text" },
      el("span", { class: "card-name", text: style.name }),
      el("span", { class: "card-desc", text: style.description ?? "" })))));
  box.addEventListener("click", (event) => {
    const card = event.target.closest(".style-card");
    if (!card) return;
    state.values.style = card.dataset.style;
    updateGalleryMarks();
    clearOptionError("style");
    valuesChanged();
  });
  updateGalleryMarks();
}

function updateGalleryMarks() {
  let found = false;
  for (const card of $$("#style-gallery .style-card")) {
    const on = card.dataset.style === state.values.style;
    card.classList.toggle("selected", on);
    card.setAttribute("aria-pressed", String(on));
    found ||= on;
  }
  const note = $("#style-note");
  note.hidden = found || !state.values.style;
  note.textContent = found ? "" : `Style from the settings file: ${state.values.style}`;
}

const thumbs = { busy: false, again: false, lastKey: "", lastError: "" };
const THUMB_SRC = /^data:image\/(jpeg|png|webp);base64,/;

/** Another song: the old song's pictures go (the cards show their initials meanwhile). */
function clearThumbnails() {
  for (const img of $$("#style-gallery .style-card img")) {
    img.removeAttribute("src");
    img.classList.remove("loaded");
  }
  thumbs.lastKey = "";
  thumbs.lastError = "";
}

/** Ask for one thumbnail per style at the current time (skipped when nothing changed). */
async function refreshThumbnailsNow(force = true) {
  if (!state.songReady || !state.song) return;
  if (thumbs.busy) { thumbs.again = true; return; }
  const body = { song: state.song.id, t: audio.currentTime || 0, values: previewValues() };
  const key = JSON.stringify(body);
  if (!force && key === thumbs.lastKey) return; // paused and unchanged: same pictures
  thumbs.busy = true;
  const token = state.songToken;
  try {
    const data = await api("/api/thumbnails", { method: "POST", json: body, signal: timeoutSignal() });
    if (token !== state.songToken) return;
    thumbs.lastKey = key;
    thumbs.lastError = "";
    const pictures = isObject(data?.thumbnails) ? data.thumbnails : {};
    for (const card of $$("#style-gallery .style-card")) {
      const src = pictures[card.dataset.style];
      if (typeof src !== "string" || !THUMB_SRC.test(src)) continue; // pictures only
      const img = $("img", card);
      if (img.getAttribute("src") !== src) {
        img.onload = () => img.classList.add("loaded");
        img.src = src;
      }
    }
  } catch (err) {
    if (err.timeout) return; // a busy server: the next refresh asks again
    // a bad setting fails every refresh the same way: say it once, not every 1.5 s
    if (token === state.songToken && err.message !== thumbs.lastError) toast(err.message, "error");
    thumbs.lastError = err.message;
    thumbs.lastKey = key;
  } finally {
    thumbs.busy = false;
    if (thumbs.again) { thumbs.again = false; refreshThumbnailsNow(); }
  }
}

const refreshThumbnailsSoon = debounce(() => refreshThumbnailsNow(true), 300);

// ==== scenes ============================================================================
// values.scenes holds rows {section: k, style?, palette?, pulse_react?, motion_react?,
// intensity?}; a row exists only while it changes something.

function scenes() {
  if (!Array.isArray(state.values.scenes)) state.values.scenes = [];
  return state.values.scenes;
}

const sceneRow = (k) => scenes().find((row) => isObject(row) && row.section === k) ?? null;

function setSceneKey(k, key, value) {
  let row = sceneRow(k);
  if (!row) {
    if (value === undefined) return;
    row = { section: k };
    scenes().push(row);
    scenes().sort((a, b) => (a?.section ?? Infinity) - (b?.section ?? Infinity));
  }
  if (value === undefined) delete row[key];
  else row[key] = value;
  if (Object.keys(row).length === 1) removeScene(k, false);
  clearOptionError("scenes");
  renderSections();
  drawTimelineBase();
  valuesChanged();
}

function removeScene(k, notify = true) {
  state.values.scenes = scenes().filter((row) => !(isObject(row) && row.section === k));
  if (notify) {
    renderSections();
    drawTimelineBase();
    valuesChanged();
  }
}

function selectSection(k) {
  state.selectedSection = k;
  renderSections();
  drawTimelineBase();
  if (k !== null) $("#scene-editor").scrollIntoView({ block: "nearest", behavior: "smooth" });
}

/**
 * Rebuild part of the page without losing the keyboard: the focused control (marked with
 * data-focus-key) is focused again afterwards — or its data-focus-fallback when it has
 * become disabled (a "reset" that has nothing left to reset).
 */
function keepFocus(root, rebuild) {
  const active = document.activeElement;
  const key = active instanceof HTMLElement && root.contains(active) ? active.dataset.focusKey : undefined;
  rebuild();
  if (!key) return;
  const find = (k) => (k ? $(`[data-focus-key="${CSS.escape(k)}"]`, root) : null);
  let target = find(key);
  if (target && (target.disabled || target.closest("[hidden]"))) target = find(target.dataset.focusFallback);
  if (target && !target.disabled) target.focus({ preventScroll: true });
}

/** The chips under "Scenes" and the editor of the selected section. */
function renderSections() {
  keepFocus($("#scenes-panel"), renderSectionsNow);
}

function renderSectionsNow() {
  const chips = $("#section-chips");
  const list = sectionsList();
  $("#scenes-hint").textContent = list.length
    ? "Click a section to give that part of the song its own style, colours or energy. Marked ones have a scene."
    : "Open a song, then click a numbered section in the strip above the timeline to give that part of the song its own style, colours or energy.";
  chips.replaceChildren(...list.map((s, i) => {
    const k = sectionNumber(s, i);
    return el("button", { type: "button", class: `section-chip${sceneRow(k) ? " has-scene" : ""}${state.selectedSection === k ? " selected" : ""}`,
      dataset: { section: k, focusKey: `chip:${k}` }, title: `Section ${k}: ${fmtTime(s.start)} – ${fmtTime(s.end)}`,
      "aria-pressed": String(state.selectedSection === k),
      text: String(k), onclick: () => selectSection(state.selectedSection === k ? null : k) });
  }));
  const rows = scenes().filter(isObject);
  const byTime = rows.filter((row) => !hasOwn(row, "section")).length;
  if (byTime) chips.append(el("span", { class: "chip-note", text: `+ ${byTime} by time (from the settings file)` }));
  if (list.length) {
    // scenes for sections this song does not have (a settings file made on another song)
    const numbers = new Set(list.map((s, i) => sectionNumber(s, i)));
    const missing = rows.filter((row) => hasOwn(row, "section") && !numbers.has(row.section)).length;
    if (missing) {
      chips.append(el("span", { class: "chip-note chip-warn",
        title: "This song has fewer sections than the scenes name: those scenes are not used",
        text: `+ ${missing} for section${missing === 1 ? "" : "s"} this song doesn't have` }));
    }
  }
  renderSceneEditor();
}

/** Song-level value a scene slider starts from (the look/user value; intensity is 1). */
function songLevel(key) {
  const opt = state.optionsByName.get(key);
  if (opt) return effectiveValue(opt);
  return key === "intensity" ? 1 : 0;
}

function sceneRange(key) {
  if (key === "intensity") return { min: 0, max: 3, step: 0.05 };
  const opt = state.optionsByName.get(key);
  if (opt && isNum(opt.min) && isNum(opt.max)) return { min: opt.min, max: opt.max, step: opt.step ?? 0.05 };
  if (key === "transition_s") return { min: 0, max: 10, step: 0.1 };
  return { min: isNum(opt?.min) ? opt.min : 0, max: isNum(opt?.max) ? opt.max : 2, step: opt?.step ?? 0.05 };
}

function renderSceneEditor() {
  const editor = $("#scene-editor");
  const k = state.selectedSection;
  const list = sectionsList();
  const index = list.findIndex((s, i) => sectionNumber(s, i) === k);
  if (k === null || index < 0) { editor.hidden = true; editor.replaceChildren(); return; }
  const section = list[index];
  const row = sceneRow(k) ?? {};
  const opts = state.options ?? {};
  const sceneKeys = isObject(opts.scene_keys) ? opts.scene_keys : {};

  const styleSelect = sceneSelect(k, row, "style", "Scene style", opts.styles);
  const paletteSelect = sceneSelect(k, row, "palette", "Scene colours", opts.palettes);

  // the numeric keys: the contract's three, plus any other number the server lists
  const numericKeys = ["pulse_react", "motion_react", "intensity",
    ...Object.keys(sceneKeys).filter((key) => !["style", "palette", "pulse_react", "motion_react", "intensity", "section", "start", "seed", "snap"].includes(key))];
  const sliders = numericKeys.map((key) => sceneSlider(k, key, row, sceneKeys[key]));

  editor.replaceChildren(
    el("div", { class: "scene-head" },
      el("h3", { text: `Section ${k}` }),
      el("span", { class: "scene-time", text: `${fmtTime(section.start)} – ${fmtTime(section.end)}` }),
      el("span", { class: "grow" }),
      el("button", { type: "button", class: "link", text: "▶ listen", title: "Play from the start of this section",
        dataset: { focusKey: "scene-listen" },
        onclick: () => { if (state.songReady) { audio.currentTime = section.start; audio.play().catch(() => {}); } } }),
      el("button", { type: "button", class: "icon-button", "aria-label": "Close the scene editor", text: "×",
        dataset: { focusKey: "scene-close" },
        onclick: () => selectSection(null) })),
    el("p", { class: "panel-note", text: sceneRow(k)
      ? "This section has its own scene. Anything left on “same as song” follows the settings above."
      : "Change anything below to give this section its own scene." }),
    el("label", { class: "field" }, el("span", { class: "field-label", text: "Style" }), styleSelect),
    el("label", { class: "field" }, el("span", { class: "field-label", text: "Colours" }), paletteSelect),
    ...sliders,
    el("div", { class: "opt-error", hidden: true }),
    el("button", { type: "button", class: "btn btn-danger", id: "scene-remove", text: "Remove scene",
      dataset: { focusKey: "scene-remove", focusFallback: "scene-style" },
      disabled: !sceneRow(k), onclick: () => removeScene(k) }));
  editor.hidden = false;
}

function sceneSlider(k, key, row, help) {
  const { min, max, step } = sceneRange(key);
  const set = hasOwn(row, key) && isNum(row[key]);
  const value = set ? row[key] : songLevel(key);
  const slider = el("input", { type: "range", class: "slider", min, max, step, value: isNum(value) ? value : min,
    "aria-label": humanName(key), dataset: { focusKey: `scene-slider:${key}` } });
  const readout = el("span", { class: "scene-value", text: set ? fmtNumber(row[key]) : "same as song" });
  slider.addEventListener("input", () => {
    readout.textContent = fmtNumber(Number(slider.value));
    paintSlider(slider);
  });
  slider.addEventListener("change", () => setSceneKey(k, key, Number(slider.value)));
  paintSlider(slider);
  const titleHelp = typeof help === "string" ? help : state.optionsByName.get(key)?.help ?? "";
  return el("div", { class: `opt scene-opt${set ? " is-set" : ""}`, dataset: { sceneKey: key } },
    el("div", { class: "opt-head" },
      el("span", { class: "opt-name", text: humanName(key), title: humanName(key) }),
      titleHelp ? el("span", { class: "info", title: titleHelp, text: "i" }) : null,
      el("span", { class: "grow" }),
      readout,
      el("button", { type: "button", class: "link reset", text: "reset", disabled: !set,
        dataset: { focusKey: `scene-reset:${key}`, focusFallback: `scene-slider:${key}` },
        title: "Back to the song's value", onclick: () => setSceneKey(k, key, undefined) })),
    el("div", { class: "opt-span", text: rangeText(min, false, max, false) }),
    el("div", { class: "num-row" }, slider));
}

/** A select of a scene's `key` (style or palette): "same as song" or one of `items`
 *  (objects with a name); a value the list lacks (from a settings file) is kept. */
function sceneSelect(k, row, key, label, items) {
  const select = el("select", { "aria-label": label, dataset: { focusKey: `scene-${key}` } },
    el("option", { value: "", text: "— same as song —" }),
    asArray(items).filter(isObject).map((item) => el("option", { value: item.name, text: item.name })));
  select.value = typeof row[key] === "string" ? row[key] : "";
  if (row[key] && select.value !== row[key]) {
    select.append(el("option", { value: row[key], text: row[key] }));
    select.value = row[key];
  }
  select.addEventListener("change", () => setSceneKey(k, key, select.value || undefined));
  return select;
}

// ==== config import / export ============================================================

async function exportConfig() {
  try {
    // the render form too: `sonicdreams render SONG --config sonicdreams.toml` makes the
    // same video as the Render button
    const values = { ...state.values, ...videoValues(), ...(clipValues() ?? {}) };
    const text = await api("/api/config/export", { method: "POST", json: { values } });
    const content = typeof text === "string" ? text : JSON.stringify(text);
    const url = URL.createObjectURL(new Blob([content], { type: "application/toml" }));
    const link = el("a", { href: url, download: "sonicdreams.toml" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 5000);
    toast("Settings saved as sonicdreams.toml.", "info");
  } catch (err) {
    showError(err);
  }
}

async function importConfigText(text) {
  try {
    const data = await api("/api/config/import", { method: "POST", body: text });
    const imported = isObject(data?.values) ? data.values : {};
    replaceValues(imported);
    // scenes made on another song: kept for the song opened next (until then they show
    // as "for sections this song doesn't have" when the open song has fewer)
    state.scenesFromFile = !state.songReady && scenes().length > 0;
    const ignored = asArray(data?.ignored).filter((k) => typeof k === "string" && k);
    if (ignored.length) toast(`Imported. Left out (command line only): ${ignored.join(", ")}`, "info", 8000);
    else toast("Settings imported.", "info");
  } catch (err) {
    showError(err);
  }
}

/** Replace every value (import): keep the four the page always holds, refresh everything. */
function replaceValues(next) {
  const defaults = isObject(state.options?.defaults) ? state.options.defaults : {};
  const values = { ...next };
  // the render form's own: into its boxes, not the page's settings
  for (const [key, box] of [["width", "#render-width"], ["height", "#render-height"],
    ["start", "#render-start"], ["duration", "#render-duration"]]) {
    if (hasOwn(values, key)) {
      $(box).value = values[key] === null || values[key] === undefined ? "" : String(values[key]);
      unmarkFormBox($(box));
      if (key === "width" || key === "height") $(box).dispatchEvent(new Event("input"));
      delete values[key];
    }
  }
  values.style ??= defaults.style ?? "cppn";
  values.look ??= defaults.look ?? "default";
  if (!hasOwn(values, "palette")) values.palette = defaults.palette ?? null;
  if (!Array.isArray(values.scenes)) values.scenes = [];
  state.values = values;
  studio.values = values;
  clearOptionError(null);
  refreshAllControls();
  updateLookMarks();
  updatePaletteMarks();
  updateGalleryMarks();
  if (isNum(values.fps) || typeof values.fps === "string") setSelectValue($("#render-fps"), values.fps);
  delete values.fps;
  renderSections();
  drawTimelineBase();
  valuesChanged();
}

function setupConfig() {
  $("#export-config").addEventListener("click", exportConfig);
  const input = $("#import-input");
  $("#import-config").addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    const file = input.files?.[0];
    input.value = "";
    if (file) file.text().then(importConfigText, showError);
  });
}

// ==== renders ===========================================================================

function setSelectValue(select, value) {
  const v = String(value);
  if (![...select.options].some((o) => o.value === v)) select.append(el("option", { value: v, text: v }));
  select.value = v;
}

function buildRenderPanel(opts) {
  const presets = asArray(opts.size_presets).filter((p) => isObject(p) && isNum(p.width) && isNum(p.height));
  const widthBox = $("#render-width"), heightBox = $("#render-height");
  const box = $("#size-presets");
  const presetButton = (p) => el("button", { type: "button", class: "seg", dataset: { preset: p.name },
    title: `${p.width} × ${p.height} px` },
  el("span", { text: p.name }), el("small", { text: `${p.width}×${p.height}` }));
  const custom = el("button", { type: "button", class: "seg", dataset: { preset: "custom" }, title: "Type a width and a height" },
    el("span", { text: "Custom" }), el("small", { text: "any size" }));
  box.replaceChildren(...presets.map(presetButton), custom);
  const markPreset = () => {
    const w = Number(widthBox.value), h = Number(heightBox.value);
    const match = presets.find((p) => p.width === w && p.height === h);
    for (const b of $$(".seg", box)) press(b, b.dataset.preset === (match ? match.name : "custom"));
  };
  box.addEventListener("click", (event) => {
    const b = event.target.closest(".seg");
    if (!b) return;
    const p = presets.find((x) => x.name === b.dataset.preset);
    if (p) {
      widthBox.value = p.width;
      heightBox.value = p.height;
      unmarkFormBox(widthBox);
      unmarkFormBox(heightBox);
      markPreset();
    } else {
      for (const x of $$(".seg", box)) press(x, x === b);
      widthBox.focus();
      widthBox.select();
    }
  });
  widthBox.addEventListener("input", markPreset);
  heightBox.addEventListener("input", markPreset);
  // the preview takes the video's shape and frame rate
  for (const box of [widthBox, heightBox, $("#render-fps")]) box.addEventListener("change", () => sendSettingsSoon());
  box.addEventListener("click", () => sendSettingsSoon());
  const start = presets.find((p) => p.name === "1:1") ?? presets[0] ?? { width: 512, height: 512 };
  widthBox.value = start.width;
  heightBox.value = start.height;
  markPreset();

  const fpsSelect = $("#render-fps");
  const fpsChoices = asArray(opts.fps_choices).length ? opts.fps_choices : [24, 25, 30, 60];
  fpsSelect.replaceChildren(...fpsChoices.map((f) => el("option", { value: String(f), text: `${f} fps` })));
  setSelectValue(fpsSelect, state.values.fps ?? opts.defaults?.fps ?? 30);

  const formatSelect = $("#render-format");
  const formats = asArray(opts.formats).length ? opts.formats : ["mp4"];
  formatSelect.replaceChildren(...formats.map((f) => el("option", { value: String(f), text: String(f).toUpperCase() })));

  // a box marked bad is unmarked as soon as it is edited
  for (const id of ["#render-width", "#render-height", "#render-fps", "#render-start", "#render-duration"]) {
    $(id).addEventListener("input", () => unmarkFormBox($(id)));
  }
  $("#render-format").addEventListener("change", () => { unmarkFormBox(widthBox); unmarkFormBox(heightBox); });

  $("#render-button").addEventListener("click", startRender);
  $("#render-queue").addEventListener("click", onQueueClick);
}

function updateRenderAvailability() {
  const ready = state.songReady && state.song;
  $("#render-button").disabled = !ready;
  $("#render-hint").textContent = ready
    ? `Renders “${state.song.name}” with the settings above (and its scenes).`
    : "Open a song first.";
  const durationBox = $("#render-duration");
  durationBox.placeholder = ready ? `to the end (${fmtTime(songDuration())})` : "to the end";
}

/** Mark a render form box bad (red, with the reason as its tooltip). */
function markFormBox(box, reason) {
  box.classList.add("invalid");
  box.dataset.invalidLocal = "1";
  box.title = reason;
}

function unmarkFormBox(box) {
  if (!box) return;
  box.classList.remove("invalid");
  delete box.dataset.invalidLocal;
  box.removeAttribute("title");
}

/** The render form, checked: {width, height, fps, start, duration}, or null after marking
 *  the first bad box and saying why in one line. */
function readRenderForm() {
  const boxes = { width: $("#render-width"), height: $("#render-height"), start: $("#render-start"),
    duration: $("#render-duration") };
  for (const box of Object.values(boxes)) unmarkFormBox(box);
  const bad = (box, reason) => {
    markFormBox(box, reason);
    toast(reason, "error");
    box.focus();
    return null;
  };
  // video codecs take even sizes only (a GIF any)
  const even = ["mp4", "webm", "mov"].includes($("#render-format").value);
  const size = {};
  for (const what of ["width", "height"]) {
    const box = boxes[what];
    const raw = box.value.trim();
    const v = Number(raw);
    if (raw === "" || !Number.isInteger(v) || v < 16 || v > 8192) {
      return bad(box, `The ${what} must be a whole number of pixels from 16 to 8192.`);
    }
    size[what] = even && v % 2 ? Math.min(8192, v + 1) : v;
    if (size[what] !== v) {
      box.value = String(size[what]);
      box.dispatchEvent(new Event("input")); // the size presets follow
    }
  }
  const startRaw = boxes.start.value.trim();
  const start = startRaw === "" ? 0 : Number(startRaw);
  const length = songDuration();
  if (!Number.isFinite(start) || start < 0 || (length > 0 && start >= length)) {
    return bad(boxes.start, length > 0
      ? `Start at must be from 0 to less than the song's length (${fmtTime(length)}), in seconds.`
      : "Start at must be 0 or more seconds.");
  }
  const durationRaw = boxes.duration.value.trim();
  const duration = durationRaw === "" ? null : Number(durationRaw);
  if (duration !== null && !(Number.isFinite(duration) && duration > 0)) {
    return bad(boxes.duration, "Length must be more than 0 seconds — or empty for the rest of the song.");
  }
  const fpsRaw = $("#render-fps").value;
  const fps = Number.isFinite(Number(fpsRaw)) ? Number(fpsRaw) : fpsRaw;
  return { width: size.width, height: size.height, fps, start, duration };
}

async function startRender() {
  if (!state.songReady || !state.song) { toast("Open a song first.", "error"); return; }
  const form = readRenderForm();
  if (!form) return;
  const { width, height, fps, start, duration } = form;
  sendSettingsSoon(); // the preview follows a size made even
  const button = $("#render-button");
  button.disabled = true;
  button.textContent = "Starting…";
  try {
    await api("/api/renders", { method: "POST", json: {
      song: state.song.id,
      values: { ...state.values, width, height, fps, start, duration },
      format: $("#render-format").value,
    } });
    toast("Render started — follow it under “Your videos”.", "info");
    pollRendersNow();
    $("#render-queue").scrollIntoView({ block: "nearest", behavior: "smooth" });
  } catch (err) {
    showError(err);
  } finally {
    button.textContent = "Render video";
    updateRenderAvailability();
  }
}

const renders = { timer: null, busy: false, lastError: "" };

async function pollRendersNow() {
  if (renders.busy) return;
  renders.busy = true;
  try {
    const data = await api("/api/renders", { signal: timeoutSignal() });
    updateQueue(asArray(data?.renders));
    renders.lastError = "";
  } catch (err) {
    if (err.message !== renders.lastError) toast(err.message, "error"); // once per outage
    renders.lastError = err.message;
  } finally {
    renders.busy = false;
  }
}

function renderStateText(r) {
  switch (r.state) {
    case "running":
      if (isNum(r.eta_s)) return `ETA ${fmtClock(r.eta_s)}`;
      return isNum(r.done) && isNum(r.total) && r.total > 0 ? `rendering… ${Math.floor((r.done / r.total) * 100)}%` : "starting…";
    case "queued": return "waiting in the queue";
    case "done": return isNum(r.elapsed_s) ? `done in ${fmtClock(r.elapsed_s)}` : "done";
    case "failed": return "failed";
    case "cancelled": return "cancelled";
    default: return String(r.state ?? "");
  }
}

/** Update the queue in place (keyed by id) so buttons don't jump while being clicked. */
function updateQueue(list) {
  const queue = $("#render-queue");
  const items = list.filter((r) => isObject(r) && r.id !== undefined && r.id !== null);
  const keep = new Set(items.map((r) => String(r.id)));
  for (const node of $$(".render-item", queue)) if (!keep.has(node.dataset.id)) node.remove();
  items.forEach((r, position) => {
    const id = String(r.id);
    let item = $(`.render-item[data-id="${CSS.escape(id)}"]`, queue);
    if (!item) item = makeRenderItem(id);
    if (queue.children[position] !== item) queue.insertBefore(item, queue.children[position] ?? null);
    fillRenderItem(item, r);
  });
  $("#render-queue-empty").hidden = items.length > 0;
}

function makeRenderItem(id) {
  return el("div", { class: "render-item", dataset: { id } },
    el("div", { class: "ri-top" }, el("span", { class: "ri-name" }), el("span", { class: "ri-size" })),
    el("progress", { max: 1, value: 0 }),
    el("div", { class: "ri-bottom" }, el("span", { class: "ri-state" }), el("span", { class: "ri-actions" })),
    el("div", { class: "ri-error", hidden: true }));
}

function fillRenderItem(item, r) {
  const stateName = String(r.state ?? "");
  item.dataset.state = stateName;
  $(".ri-name", item).textContent = r.name ?? r.filename ?? "video";
  $(".ri-name", item).title = r.filename ?? "";
  item.dataset.filename = String(r.filename ?? r.name ?? "");
  const size = [isNum(r.width) && isNum(r.height) ? `${r.width}×${r.height}` : null,
    isNum(r.fps) || typeof r.fps === "string" ? `${r.fps} fps` : null].filter(Boolean).join(" · ");
  $(".ri-size", item).textContent = size;
  const bar = $("progress", item);
  const total = isNum(r.total) && r.total > 0 ? r.total : null;
  if (stateName === "done") { bar.max = 1; bar.value = 1; }
  else if (total) { bar.max = total; bar.value = clamp(isNum(r.done) ? r.done : 0, 0, total); }
  else if (stateName === "running") bar.removeAttribute("value"); // indeterminate while it starts
  else { bar.max = 1; bar.value = 0; }
  $(".ri-state", item).textContent = renderStateText(r);
  const errorLine = $(".ri-error", item);
  errorLine.hidden = !r.error;
  errorLine.textContent = r.error ?? "";

  // the buttons exist only when they apply; rebuilt only when the state or file changes
  const key = `${stateName}|${r.file ?? ""}|${r.filename ?? ""}`;
  if (item.dataset.actionsKey === key) return;
  item.dataset.actionsKey = key;
  const actions = [];
  // only the server's own download address (never another page, never script)
  if (stateName === "done" && typeof r.file === "string" && r.file.startsWith("/api/renders/")) {
    actions.push(el("a", { class: "download btn btn-primary btn-sm", href: r.file,
      download: r.filename ?? "", text: "Download" }));
  }
  if (stateName === "queued" || stateName === "running") actions.push(el("button", { type: "button", class: "cancel btn btn-sm", text: "Cancel" }));
  if (stateName === "cancelled" || stateName === "failed") actions.push(el("button", { type: "button", class: "resume btn btn-sm", text: "Resume" }));
  if (stateName !== "running") {
    actions.push(el("button", { type: "button", class: "remove btn btn-sm btn-quiet",
      text: stateName === "done" ? "Delete" : "Remove",
      title: stateName === "done" ? "Delete the video file from the studio" : "Take it off the list (and its finished parts)" }));
  }
  $(".ri-actions", item).replaceChildren(...actions);
}

async function onQueueClick(event) {
  const button = event.target.closest("button");
  const item = event.target.closest(".render-item");
  if (!button || !item) return;
  const id = encodeURIComponent(item.dataset.id);
  const call = button.classList.contains("cancel") ? [`/api/renders/${id}/cancel`, "POST"]
    : button.classList.contains("resume") ? [`/api/renders/${id}/resume`, "POST"]
      : button.classList.contains("remove") ? [`/api/renders/${id}`, "DELETE"] : null;
  if (!call) return;
  if (call[1] === "DELETE") {
    const stateName = item.dataset.state;
    const name = item.dataset.filename || "this video";
    const question = stateName === "done" ? `Delete the video ${name}?`
      : stateName === "cancelled" || stateName === "failed"
        ? `Remove ${name}? The parts it has already rendered are deleted too (Resume would keep them).`
        : null;
    if (question && !window.confirm(question)) return;
  }
  button.disabled = true;
  try {
    await api(call[0], { method: call[1] });
    if (call[1] === "DELETE") item.remove();
  } catch (err) {
    showError(err);
    button.disabled = false;
  }
  pollRendersNow();
}

// ==== keyboard & drag-and-drop ==========================================================

function isTyping(target) {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable || target.closest("select, textarea")) return true;
  const input = target.closest("input");
  return Boolean(input) && !["range", "checkbox", "radio", "button"].includes(input.type);
}

/** A focused control that uses Space or the arrow keys itself (sliders, selects, buttons,
 *  links, the group headings…): the page's shortcuts leave those keys to it. */
/** The focused element uses the key itself. A button or link clicked with the mouse keeps
 *  focus but not the keys (Space still plays); one reached with the keyboard owns Space. */
function ownsKeys(target, { buttons = true } = {}) {
  if (!(target instanceof Element)) return false;
  if (target.closest('input, select, textarea, summary, [contenteditable]:not([contenteditable="false"])')) return true;
  const button = target.closest("button, a");
  return Boolean(buttons && button && button.matches(":focus-visible"));
}

function seekBy(seconds) {
  if (!state.songReady) return;
  const duration = songDuration();
  const t = (audio.currentTime || 0) + seconds;
  audio.currentTime = clamp(t, 0, Math.max(0, duration > 0 ? duration - 0.01 : t));
}

function setupKeyboard() {
  const playButton = $("#play-button");
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const onPlay = event.target instanceof Element && playButton.contains(event.target);
    if (event.code === "Space" || event.key === " ") {
      // on the play button its own click does it; elsewhere in a control, Space is the control's
      if (onPlay || ownsKeys(event.target)) return;
      event.preventDefault();
      if (!event.repeat) togglePlay();
    } else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
      if (!onPlay && ownsKeys(event.target, { buttons: false })) return;
      if (!state.songReady) return;
      event.preventDefault();
      seekBy(event.key === "ArrowLeft" ? -5 : 5);
    } else if ((event.key === "d" || event.key === "D") && !isTyping(event.target)) {
      toggleDebug();
    }
  });
}

function setupDragAndDrop() {
  const overlay = $("#drop-overlay");
  let depth = 0;
  const hasFiles = (event) => Array.from(event.dataTransfer?.types ?? []).includes("Files");
  window.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth += 1;
    overlay.hidden = false;
  });
  window.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  window.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) overlay.hidden = true;
  });
  window.addEventListener("drop", (event) => {
    event.preventDefault();
    depth = 0;
    overlay.hidden = true;
    openFile(event.dataTransfer?.files?.[0]);
  });
}

// ==== start-up ==========================================================================

function setupSongButtons() {
  const input = $("#file-input");
  const pick = () => input.click();
  $("#open-button").addEventListener("click", pick);
  $("#demo-button").addEventListener("click", loadDemo);
  for (const b of $$('[data-action="open"]')) b.addEventListener("click", pick);
  for (const b of $$('[data-action="demo"]')) b.addEventListener("click", loadDemo);
  input.addEventListener("change", () => {
    const file = input.files?.[0];
    input.value = ""; // picking the same file again must fire change again
    openFile(file);
  });
}

async function loadOptions() {
  for (let attempt = 0; ; attempt++) {
    try {
      return await api("/api/options");
    } catch (err) {
      if (attempt === 0) showError(err);
      await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 1000 * (attempt + 1))));
    }
  }
}

function applyOptions(opts) {
  state.options = isObject(opts) ? opts : {};
  const groups = asArray(state.options.groups);
  for (const group of groups) for (const opt of asArray(group?.options)) if (isObject(opt) && opt.name) state.optionsByName.set(opt.name, opt);
  const defaults = isObject(state.options.defaults) ? state.options.defaults : {};
  state.values.style = defaults.style ?? asArray(state.options.styles)[0]?.name ?? "cppn";
  state.values.look = defaults.look ?? asArray(state.options.looks)[0]?.name ?? "default";
  state.values.palette = defaults.palette ?? null;
  state.values.scenes = [];
  buildGallery(state.options.styles);
  buildLooks(state.options.looks);
  buildPalettes(state.options.palettes);
  buildOptionGroups(groups);
  buildRenderPanel(state.options);
  renderSections();
}

async function init() {
  setupSongButtons();
  setupTransport();
  setupTimelineEvents();
  setupKeyboard();
  setupDragAndDrop();
  setupConfig();
  new ResizeObserver(() => { layoutPreview(); drawTimelineBase(); }).observe($("#preview-area"));
  new ResizeObserver(() => drawTimelineBase()).observe($("#timeline-box"));
  matchMedia(`(resolution: ${window.devicePixelRatio}dppx)`).addEventListener?.("change", () => { layoutPreview(); drawTimelineBase(); });
  layoutPreview();
  drawTimelineBase();
  requestAnimationFrame(displayLoop);
  window.addEventListener("beforeunload", closePreview);

  applyOptions(await loadOptions());
  pollRendersNow();
  renders.timer = setInterval(pollRendersNow, 500);
  // thumbnails follow the song while it plays; when paused and unchanged they are skipped
  setInterval(() => refreshThumbnailsNow(false), 1500);
}

init().catch(showError);

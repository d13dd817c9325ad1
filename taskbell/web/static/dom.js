// Tiny DOM helpers: build elements without innerHTML, so server text is never parsed as HTML.

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "className") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

export function show(node, visible) {
  node.hidden = !visible;
}

const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const UNITS = [
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
];

export function timeAgo(iso) {
  const seconds = (Date.parse(iso) - Date.now()) / 1000;
  if (Number.isNaN(seconds)) return "";
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return RELATIVE.format(Math.round(seconds / size), unit);
  }
  return "just now";
}

/** A <time> that says how long ago `iso` was; refreshTimes() keeps it current. */
export function ago(iso) {
  return h("time", { datetime: iso, title: new Date(iso).toLocaleString() }, timeAgo(iso));
}

export function refreshTimes(root = document) {
  for (const node of root.querySelectorAll("time[datetime]")) {
    node.textContent = timeAgo(node.getAttribute("datetime"));
  }
}

export function initials(name) {
  return name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((word) => word[0].toUpperCase())
    .join("");
}

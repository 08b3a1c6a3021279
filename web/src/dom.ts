/**
 * A few DOM helpers so views read as markup: `h('button', { class: 'x', onclick }, 'Send')`.
 * Text always goes in as text nodes, never as HTML, so message content cannot inject markup.
 */

type Child = Node | string | number | null | undefined | false;
// An `onkeydown` handler takes a KeyboardEvent, an `onsubmit` one an Event: no one parameter type fits every handler.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Attr = string | number | boolean | null | undefined | ((event: any) => void);

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, Attr> = {},
  ...children: Array<Child | Child[]>
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (name === 'class') el.className = String(value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** A colour of its own for each user id, so avatars tell people apart at a glance. */
function hue(id: string): number {
  let n = 0;
  for (const ch of id) n = (n * 31 + ch.charCodeAt(0)) % 3600;
  // Steps of the golden angle: neighbouring ids ("1", "2") land far apart on the colour wheel.
  return Math.round(n * 137.508) % 360;
}

/** A round avatar with the name's first letter; `online` adds the green dot. */
export function avatar(id: string, name: string, online?: boolean): HTMLElement {
  return h(
    'span',
    { class: 'avatar', style: `--hue: ${hue(id)}`, 'aria-hidden': 'true' },
    (name[0] ?? '?').toUpperCase(),
    online === undefined ? null : h('span', { class: online ? 'dot online' : 'dot' }),
  );
}

/** 14:05 today, or the date before that. */
export function shortTime(iso: string): string {
  const at = new Date(iso);
  const today = new Date().toDateString() === at.toDateString();
  return today ? at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : at.toLocaleDateString([], { month: 'short', day: 'numeric' });
}

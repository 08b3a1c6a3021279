/** Notifications and problems, shown in a corner as they arrive and gone after a while. */
import { h } from './dom.js';

const SHOWN_MS = 8000;
const MAX_SHOWN = 4;

export class Toasts {
  readonly el = h('ol', { class: 'toasts', 'aria-live': 'polite', 'aria-label': 'Notifications' });

  show(text: string, options: { title?: string; img?: string; kind?: 'notification' | 'problem' | 'info' } = {}): void {
    const kind = options.kind ?? 'info';
    // Only web images: the notification comes from the main API, but a data or script URL has no business here.
    const img = options.img !== undefined && /^https?:\/\//i.test(options.img) ? h('img', { src: options.img, alt: '' }) : null;
    const toast = h(
      'li',
      { class: `toast ${kind}`, role: kind === 'problem' ? 'alert' : 'status' },
      img,
      h('div', {}, options.title === undefined ? null : h('strong', {}, options.title), h('p', {}, text)),
      h('button', { type: 'button', class: 'close', 'aria-label': 'Dismiss', onclick: () => toast.remove() }, '×'),
    );
    this.el.append(toast);
    while (this.el.children.length > MAX_SHOWN) this.el.firstElementChild?.remove();
    setTimeout(() => toast.remove(), SHOWN_MS);
  }
}

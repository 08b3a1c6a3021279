/**
 * The sign-in screen. With the development sign-in (no JWT key configured) it lists the demo
 * users to sign in as with one click; otherwise it takes a token issued by the main API.
 */
import { devUsers } from './api.js';
import { avatar, h } from './dom.js';
import type { SignIn } from './session.js';

export async function showSignIn(root: HTMLElement, done: (signIn: SignIn) => void, problem?: string): Promise<void> {
  const status = h('p', { class: 'problem', role: 'alert' }, problem ?? '');
  const panel = h('section', { class: 'panel', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
  root.replaceChildren(
    h(
      'main',
      { class: 'sign-in' },
      h('div', { class: 'card' }, h('h1', {}, h('span', { class: 'logo' }, 'm'), 'massenger'), status, panel),
    ),
  );

  let users;
  try {
    users = await devUsers();
  } catch (err) {
    status.textContent = `The service did not answer: ${(err as Error).message}`;
    users = null;
  }
  panel.removeAttribute('aria-busy');
  if (users !== null && users.length > 0) {
    panel.replaceChildren(
      h('h2', {}, 'Sign in as'),
      h(
        'ul',
        { class: 'users', 'aria-label': 'Demo users' },
        users.map((u) =>
          h(
            'li',
            {},
            h('button', { type: 'button', class: 'user', onclick: () => done({ kind: 'dev', userId: u.id, username: u.username }) }, avatar(u.id, u.username), h('span', {}, u.username)),
          ),
        ),
      ),
      h('p', { class: 'muted' }, 'Development sign-in: open a second window and sign in as someone else to chat between the two.'),
    );
    return;
  }
  const token = h('textarea', { name: 'token', rows: 4, required: true, placeholder: 'eyJhbGciOi…', 'aria-label': 'Token' });
  panel.replaceChildren(
    h(
      'form',
      {
        onsubmit: (event: Event) => {
          event.preventDefault();
          const value = token.value.trim();
          if (value !== '') done({ kind: 'token', token: value });
        },
      },
      h('h2', {}, 'Sign in with a token'),
      h('p', { class: 'muted' }, 'Paste a JWT issued by the main API for this service.'),
      token,
      h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    ),
  );
}

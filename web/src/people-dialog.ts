/** A modal list of people to tick: whom to start a conversation with, or to add to one. */
import type { Id } from 'massenger/client';
import { avatar, h } from './dom.js';

export interface Person {
  id: Id;
  username: string;
  online: boolean;
}

/** Resolves with the ticked ids, or null when the dialog was cancelled. */
export function pickPeople(title: string, people: Person[], action: string): Promise<Id[] | null> {
  return new Promise((resolve) => {
    const boxes = people.map((p) => ({ id: p.id, box: h('input', { type: 'checkbox', name: 'person', value: p.id }) }));
    const submit = h('button', { type: 'submit', class: 'primary', value: 'ok', disabled: true }, action);
    const form = h(
      'form',
      { method: 'dialog' },
      h('h2', {}, title),
      people.length === 0
        ? h('p', { class: 'muted' }, 'Nobody to add: every friend is here already.')
        : h(
            'ul',
            { class: 'people' },
            people.map((p, i) => h('li', {}, h('label', {}, boxes[i]!.box, avatar(p.id, p.username, p.online), h('span', {}, p.username)))),
          ),
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => dialog.close('') }, 'Cancel'), submit),
    );
    form.addEventListener('change', () => (submit.disabled = !boxes.some((b) => b.box.checked)));
    // method=dialog: submitting closes the dialog with the submit button's value as returnValue.
    const dialog = h('dialog', { class: 'people-dialog', 'aria-label': title }, form);
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'ok' ? boxes.filter((b) => b.box.checked).map((b) => b.id) : null);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

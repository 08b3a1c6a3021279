/**
 * The chat page's entry point: the sign-in screen until someone signs in, then the chat. It talks
 * to the service through the client library (massenger/client) and, for the HTTP routes, fetch.
 */
import { ChatApp } from './chat.js';
import { forgetSignIn, savedSignIn, saveSignIn, type SignIn } from './session.js';
import { showSignIn } from './sign-in.js';

const root = document.getElementById('app')!;

function start(signIn: SignIn): void {
  saveSignIn(signIn);
  new ChatApp(root, signIn, (problem) => {
    forgetSignIn();
    void showSignIn(root, start, problem);
  });
}

const saved = savedSignIn();
if (saved === null) void showSignIn(root, start);
else start(saved);

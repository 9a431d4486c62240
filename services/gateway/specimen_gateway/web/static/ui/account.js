// Who am I, and change password (PUT /api/v1/users/me/password). The change revokes every
// token of the user, this session's too, so the page signs out and asks for the new password.
import { api, whoAmI, showProblem, signOut } from './api.js';

whoAmI().then((me) => {
  for (const field of document.querySelectorAll('#me [data-field]')) {
    field.textContent = me[field.dataset.field] ?? '';
  }
}).catch((error) => showProblem(document.getElementById('page-problem'), error));

const form = document.getElementById('password-form');
const problem = document.getElementById('password-problem');
form.addEventListener('submit', async (event) => {
  event.preventDefault();
  showProblem(problem, null);
  const data = new FormData(form);
  try {
    await api('/api/v1/users/me/password', {
      method: 'PUT',
      json: { current_password: data.get('current_password'), new_password: data.get('new_password') },
    });
  } catch (error) {
    showProblem(problem, error);
    return;
  }
  await signOut('/login?reason=password-changed');
});

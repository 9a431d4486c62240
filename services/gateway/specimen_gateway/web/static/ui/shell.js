// Every signed-in page: who am I in the top bar (the session restored from its cookies).
import { whoAmI, showProblem } from './api.js';

const who = document.getElementById('whoami');
if (who) {
  whoAmI().then((me) => {
    who.textContent = `${me.full_name} (${me.role})`;
    who.dataset.email = me.email;
  }).catch((error) => {
    who.textContent = '';
    showProblem(document.getElementById('page-problem'), error);
  });
}

// Every signed-in page: who am I in the top bar (the session restored from its cookies).
import { whoAmI, showProblem } from './api.js';

const who = document.getElementById('whoami');
if (who) {
  whoAmI().then((me) => {
    who.textContent = `${me.full_name} (${me.role})`;
    who.dataset.email = me.email;
    // Managing users is for moderators and admins; the API refuses anyone else anyway, this
    // only spares technicians a link to a page that would tell them so.
    if (me.role === 'technician') {
      for (const item of document.querySelectorAll('[data-nav="/users"]')) item.hidden = true;
    }
  }).catch((error) => {
    who.textContent = '';
    showProblem(document.getElementById('page-problem'), error);
  });
}

import { whoAmI } from './api.js';

whoAmI().then((me) => { document.getElementById('home-name').textContent = me.full_name; })
  .catch(() => {});

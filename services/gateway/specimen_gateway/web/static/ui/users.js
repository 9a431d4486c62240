// Users of one's hospital (an admin: everyone): create, change role, deactivate. The rules
// (who may give which role, which hospital) are the users service's; its answer is shown.
import { apiJson, element, showProblem, whoAmI } from './api.js';

const $ = (id) => document.getElementById(id);
const ROLES = ['technician', 'moderator', 'admin'];
const problem = $('page-problem');

async function update(user, change, status) {
  try {
    await apiJson(`/api/v1/users/${user.id}`, { method: 'PATCH', json: change });
    $('users-status').textContent = status;
    showProblem(problem, null);
  } catch (error) { showProblem(problem, error); }
  await load();
}

function row(user, me) {
  const roleId = `role-${user.id}`;
  // Roles are the admins' to change (the users service's rule), never one's own.
  const role = element('select', { id: roleId, disabled: user.id === me.id || me.role !== 'admin' },
    ...ROLES.map((name) => element('option', { value: name, text: name, selected: name === user.role })));
  role.addEventListener('change', () => update(user, { role: role.value }, `${user.email} is now ${role.value}.`));
  return element('tr', { 'data-user-id': user.id },
    element('td', { text: user.full_name }),
    element('td', { text: user.email }),
    element('td', { text: user.hospital }),
    element('td', {}, element('label', { for: roleId, class: 'visually-hidden', text: `Role of ${user.email}` }), role),
    element('td', { text: user.is_active ? 'yes' : 'no' }),
    element('td', {}, user.id === me.id ? '' : element('button', {
      type: 'button', class: user.is_active ? 'danger' : 'secondary',
      text: `${user.is_active ? 'Deactivate' : 'Activate'} ${user.email}`,
      onclick: () => update(user, { is_active: !user.is_active },
        `${user.email} is ${user.is_active ? 'deactivated' : 'active again'}.`),
    })));
}

async function load() {
  try {
    const [page, me] = await Promise.all([apiJson('/api/v1/users?limit=500&sort=email'), whoAmI()]);
    $('users').tBodies[0].replaceChildren(...page.items.map((user) => row(user, me)));
    $('roles-note').hidden = me.role === 'admin';
  } catch (error) { showProblem(problem, error); }
}

async function loadHospitals() {
  try {
    const [page, me] = await Promise.all([apiJson('/api/v1/hospitals?limit=500'), whoAmI()]);
    $('new-hospital').replaceChildren(...page.items.map((hospital) => element('option', {
      value: hospital.id, text: hospital.name, selected: hospital.id === me.hospital })));
  } catch (error) { showProblem(problem, error); }
}

$('new-user').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const fields = Object.fromEntries(new FormData(form));
  showProblem($('new-user-problem'), null);
  try {
    const user = await apiJson('/api/v1/users', { method: 'POST', json: fields });
    $('new-user-status').textContent = `Created ${user.email} (${user.role}).`;
    form.reset();
    await Promise.all([load(), loadHospitals()]);
  } catch (error) { showProblem($('new-user-problem'), error); }
});

load();
loadHospitals();

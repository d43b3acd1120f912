// The console's own script (no inline scripts: the CSP refuses them).
// - Buttons with data-confirm ask in the page's <dialog> (Yes / Cancel)
//   before their form is sent; data-needs-rows ones act on the checked rows.
// - Inputs with data-autosubmit send their form when changed (the switch).
// - The checkbox with data-select-all checks or unchecks every row.
(function () {
  'use strict';
  var pending = null;

  // Pages are never kept for Back (historyCacheSize 0); a snapshot an older
  // version left is removed.
  try {
    window.sessionStorage.removeItem('htmx-history-cache');
    window.localStorage.removeItem('htmx-history-cache');
  } catch (e) { /* storage refused: nothing kept either */ }

  function announce(form, text) {
    var live = form.querySelector('[data-announce]') || document.getElementById('announce');
    if (live) { live.textContent = text; }
  }

  document.addEventListener('click', function (e) {
    var button = e.target.closest ? e.target.closest('[data-confirm]') : null;
    if (!button) { return; }
    e.preventDefault();
    var form = button.form;
    var text = button.getAttribute('data-confirm');
    if (button.hasAttribute('data-needs-rows')) {
      var checked = form.querySelectorAll('input[name=ids]:checked').length;
      if (checked === 0) { announce(form, 'Check at least one row first.'); return; }
      text = text.replace('{n}', String(checked)).replace('{s}', checked === 1 ? '' : 's');
    }
    var dialog = document.getElementById('confirm');
    document.getElementById('confirm-text').textContent = text;
    pending = { form: form, name: button.getAttribute('name'), value: button.value };
    dialog.returnValue = '';
    dialog.showModal();
  });

  // 'close' does not bubble: listen while it is captured.
  document.addEventListener('close', function (e) {
    if (!e.target || e.target.id !== 'confirm') { return; }
    var p = pending;
    pending = null;
    if (!p || e.target.returnValue !== 'yes') { return; }
    if (p.name) {
      var old = p.form.querySelector('input[type=hidden][data-chosen]');
      if (old) { old.remove(); }
      var input = document.createElement('input');
      input.type = 'hidden';
      input.name = p.name;
      input.value = p.value;
      input.setAttribute('data-chosen', '');
      p.form.appendChild(input);
    }
    p.form.requestSubmit();
  }, true);

  document.addEventListener('change', function (e) {
    var t = e.target;
    if (t.hasAttribute && t.hasAttribute('data-autosubmit')) {
      t.form.requestSubmit();
    }
    if (t.hasAttribute && t.hasAttribute('data-select-all')) {
      var boxes = t.form.querySelectorAll('input[name=ids]');
      for (var i = 0; i < boxes.length; i++) { boxes[i].checked = t.checked; }
    }
  });
})();

// Passkeys: hands the options the server put on the form to the browser's WebAuthn
// call (navigator.credentials.create to set one up, .get to sign in) and posts the
// browser's answer back with the form. Served by the router, so the page's
// Content-Security-Policy (script-src 'self') lets it run; no inline script.
(function () {
  var form = document.getElementById('passkey-form');
  var start = document.getElementById('passkey-start');
  var failed = document.getElementById('passkey-error');
  if (!form || !start) return;
  if (!window.PublicKeyCredential || !navigator.credentials) {
    failed.hidden = false;
    start.disabled = true;
    return;
  }
  function ceremony() {
    var options = JSON.parse(form.dataset.options).publicKey;
    if (form.dataset.ceremony === 'create') {
      return navigator.credentials.create({
        publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options)
      });
    }
    return navigator.credentials.get({
      publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options)
    });
  }
  start.addEventListener('click', function () {
    failed.hidden = true;
    start.disabled = true;
    var answer;
    try {
      answer = ceremony();
    } catch (e) {
      answer = Promise.reject(e);
    }
    answer.then(function (credential) {
      form.elements.response.value = JSON.stringify(credential.toJSON());
      form.submit();
    }, function () {
      failed.hidden = false;
      start.disabled = false;
    });
  });
})();

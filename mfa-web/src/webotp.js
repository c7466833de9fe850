// WebOTP: where the browser has it, the code from an SMS that ends with
// "@host #code" fills itself in and is checked. The page works without this script.
(function () {
  if (!('OTPCredential' in window)) return;
  var input = document.getElementById('code');
  if (!input || !input.form) return;
  var abort = new AbortController();
  input.form.addEventListener('submit', function () { abort.abort(); });
  navigator.credentials.get({ otp: { transport: ['sms'] }, signal: abort.signal })
    .then(function (otp) {
      if (otp && otp.code) { input.value = otp.code; input.form.submit(); }
    })
    .catch(function () {});
})();

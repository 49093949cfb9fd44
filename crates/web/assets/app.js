// Progressive enhancement only: every page works without this file.
// Moves focus to the main content when the skip link is used, for browsers that do not.
document.addEventListener("DOMContentLoaded", () => {
  const skip = document.querySelector("a.skip");
  const main = document.getElementById("main");
  if (skip && main) {
    skip.addEventListener("click", () => main.focus());
  }
});

// The payment step: a link to the provider's cashier that is followed at once (a link, not a
// redirect, so the CSP's form-action stays 'self'); without script the visitor clicks it.
document.addEventListener("DOMContentLoaded", () => {
  const follow = document.querySelector("a[data-follow='now']");
  if (follow) {
    window.location.assign(follow.href);
  }
});

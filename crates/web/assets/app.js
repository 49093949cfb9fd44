// Progressive enhancement only: every page works without this file.
// Moves focus to the main content when the skip link is used, for browsers that do not.
document.addEventListener("DOMContentLoaded", () => {
  const skip = document.querySelector("a.skip");
  const main = document.getElementById("main");
  if (skip && main) {
    skip.addEventListener("click", () => main.focus());
  }
});

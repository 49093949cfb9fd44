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

// Live figures: a region marked data-refresh="15" is fetched again every 15 seconds and
// replaced with the same region of the fresh page (without script, reload the page).
// A waiting-room place (data-poll: its poll address, data-standing: what the page shows)
// instead polls that address — answered from the server's memory — every data-refresh
// seconds, updates the people ahead and the wait in place, and reloads the page only when the
// standing changes (admitted: the page hands over the admission).
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-poll][data-standing]").forEach((region) => {
    const seconds = Math.max(2, Number(region.dataset.refresh) || 3);
    const poll = async () => {
      try {
        const response = await fetch(region.dataset.poll, { credentials: "omit", cache: "no-store" });
        if (!response.ok) return;
        const place = await response.json();
        if (place.standing !== region.dataset.standing) {
          window.location.reload();
          return;
        }
        const ahead = region.querySelector("[data-ahead]");
        if (ahead && place.ahead != null) ahead.textContent = String(place.ahead);
        const minutes = region.querySelector("[data-wait-minutes]");
        if (minutes && place.wait_secs != null) {
          minutes.textContent = String(Math.max(1, Math.ceil(place.wait_secs / 60)));
        }
      } catch (_) {
        // Offline for a moment: the next round tries again.
      }
    };
    setInterval(poll, seconds * 1000);
  });
  document.querySelectorAll("[data-refresh][id]:not([data-poll])").forEach((region) => {
    const seconds = Math.max(5, Number(region.dataset.refresh) || 15);
    setInterval(async () => {
      try {
        const response = await fetch(window.location.href, { credentials: "same-origin" });
        if (!response.ok) return;
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        const fresh = page.getElementById(region.id);
        if (fresh) region.replaceChildren(...fresh.childNodes);
      } catch (_) {
        // Offline for a moment: the next round tries again.
      }
    }, seconds * 1000);
  });
});

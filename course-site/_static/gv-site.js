/* The course site's own script (course-site/conf.py loads it on every page).

   Sidebar toggles. sphinx-book-theme 1.4 shows its own toggle buttons in the article header and hides the navbar's,
   but its script and pydata-sphinx-theme 0.20's bind only the FIRST `.primary-toggle` / `.secondary-toggle` of the
   page: the hidden navbar buttons. Clicking a visible toggle did nothing, so a phone reader could not reach the
   chapters. Here a visible toggle forwards its click to the bound one (the themes then open the sidebar as a dialog
   on narrow screens, or collapse the primary sidebar on wide ones); on wide screens, where the contents (secondary)
   sidebar is a column of the page, its toggle shows and hides that column.

   Charts. A chart drawn 1,000 px wide and shrunk to a 360 px phone column has 4 px text: each output image keeps at
   least MIN_SCALE of its drawn size (its output scrolls sideways instead) and links to the full-size file.

   Search from file://. Sphinx's search fetches each hit's page to show a summary under it; a page opened from a file
   (no server: how the site is meant to be read) may not fetch another file, so every hit logged "Failed to fetch" in
   the console and showed no summary anyway. There it lists the hits (page and section titles) without summaries.
   (This script runs before the search does: it is loaded on every page before searchtools.js.) */
(function () {
  "use strict";
  const MIN_SCALE = 0.7;

  if (location.protocol === "file:" && typeof DOCUMENTATION_OPTIONS !== "undefined") {
    DOCUMENTATION_OPTIONS.SHOW_SEARCH_SUMMARY = false;
  }

  function forwardToggles() {
    for (const kind of ["primary", "secondary"]) {
      const all = Array.from(document.querySelectorAll(`button.${kind}-toggle`));
      const bound = all[0];                                   // the button the themes' scripts listened to
      for (const button of all.slice(1)) {
        button.addEventListener("click", (event) => {
          event.preventDefault();
          event.stopPropagation();
          button.blur();
          if (kind === "secondary" && toggleSecondaryColumn()) return;
          bound.click();
        });
      }
    }
  }

  // True if the contents sidebar is (or was) a column of the page and has been shown or hidden.
  function toggleSecondaryColumn() {
    const sidebar = document.getElementById("pst-secondary-sidebar");
    if (!sidebar || !window.matchMedia("(min-width: 1200px)").matches) return false;
    if (sidebar.classList.contains("gv-sidebar-hidden")) { sidebar.classList.remove("gv-sidebar-hidden"); return true; }
    if (getComputedStyle(sidebar).display === "none") return false;
    sidebar.classList.add("gv-sidebar-hidden");
    return true;
  }

  function legibleCharts() {
    for (const img of document.querySelectorAll(".cell_output img")) {
      const fit = () => {
        if (!img.naturalWidth) return;
        img.style.minWidth = `${Math.round(img.naturalWidth * MIN_SCALE)}px`;
        img.classList.add("gv-chart");
      };
      if (img.complete) fit(); else img.addEventListener("load", fit);
      if (!img.closest("a")) {
        const a = document.createElement("a");
        a.href = img.getAttribute("src");
        a.className = "gv-chart-link";
        a.title = "Open the chart at full size";
        img.replaceWith(a);
        a.appendChild(img);
      }
    }
  }

  function ready(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }
  ready(forwardToggles);
  ready(legibleCharts);
})();

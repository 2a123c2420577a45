/* dashboard.js: sortable tables and in-place refresh; every page works without it. */
"use strict";
document.addEventListener("DOMContentLoaded", function () {
	function key(td) {
		var v = td.getAttribute("data-v");
		var n = v === null || v === "" ? NaN : Number(v);
		return isNaN(n) ? td.textContent.trim().toLowerCase() : n;
	}
	function sortable(table) {
		table.querySelectorAll("thead th").forEach(function (th, col) {
			th.addEventListener("click", function () {
				var body = table.tBodies[0], dir = th.getAttribute("data-dir") === "asc" ? -1 : 1;
				var rows = Array.prototype.slice.call(body.rows);
				rows.sort(function (a, b) {
					var x = key(a.cells[col]), y = key(b.cells[col]);
					return (x < y ? -1 : x > y ? 1 : 0) * dir;
				});
				rows.forEach(function (r) { body.appendChild(r); });
				th.setAttribute("data-dir", dir === 1 ? "asc" : "desc");
			});
		});
	}
	document.querySelectorAll("table.sortable").forEach(sortable);
	var every = Number(document.body.getAttribute("data-refresh")) || 0;
	if (every > 0) {
		setInterval(function () {
			fetch(location.href, { credentials: "same-origin" }).then(function (r) {
				return r.ok ? r.text() : null;
			}).then(function (html) {
				if (html === null) { return; }
				var doc = new DOMParser().parseFromString(html, "text/html");
				var fresh = doc.getElementById("main"), cur = document.getElementById("main");
				if (fresh && cur) {
					cur.replaceWith(fresh);
					fresh.querySelectorAll("table.sortable").forEach(sortable);
				}
			}).catch(function () {});
		}, every * 1000);
	}
});

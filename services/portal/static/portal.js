// The upload page's progress: ask the portal for the import's progress every half second,
// move the bar and the counts, and show the finished page when the import ends.
(function () {
  var box = document.getElementById('upload');
  if (!box || box.dataset.status !== 'running') { return; }
  var bar = document.getElementById('progress');
  function tick() {
    fetch(box.dataset.progressUrl, { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        bar.max = p.bytes_total || 1;
        bar.value = p.bytes_read;
        ['rows', 'accepted', 'duplicates', 'rejected'].forEach(function (k) {
          document.getElementById(k).textContent = p[k];
        });
        if (p.status === 'running') { setTimeout(tick, 500); } else { window.location.reload(); }
      })
      .catch(function () { setTimeout(tick, 2000); });
  }
  tick();
}());

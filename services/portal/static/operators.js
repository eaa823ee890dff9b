// The operators' live events: the portal relays the console's stream (server-sent events);
// each event becomes a row at the top of the table (text only, never HTML), 500 rows at most.
(function () {
  var table = document.getElementById('events');
  var state = document.getElementById('stream-state');
  if (!table || !window.EventSource) { return; }
  var body = table.tBodies[0];
  function setState(s) { state.dataset.state = s; state.textContent = state.dataset[s] || s; }
  function row(cells, type, referral, css) {
    var tr = body.insertRow(0);
    tr.dataset.type = type;
    tr.dataset.referral = referral || '';
    if (css) { tr.className = css; }
    cells.forEach(function (text) { tr.insertCell(-1).textContent = text || ''; });
    while (body.rows.length > 500) { body.deleteRow(-1); }
  }
  var source = new EventSource(table.dataset.streamUrl);
  source.addEventListener('ready', function () { setState('live'); });
  source.addEventListener('event', function (m) {
    var v = JSON.parse(m.data), d = v.data || {};
    var referral = d.referral_id || (v.type.indexOf('referral.') === 0 ? v.subject : '');
    var status = ['status', 'previous_status', 'reason', 'outcome'].filter(function (k) { return d[k] !== undefined; })
      .map(function (k) { return k + '=' + d[k]; }).join(' ');
    row([v.time.substring(0, 19).replace('T', ' '), v.type, referral, v.partner_id || d.partner_id,
         v.employer_id || d.employer_id, d.opening_id, status], v.type, referral);
  });
  source.addEventListener('undecodable', function (m) {
    var v = JSON.parse(m.data);
    row([(v.time || '').substring(0, 19).replace('T', ' '), state.dataset.undecodable + (v.type ? ' (' + v.type + ')' : ''),
         v.key, '', '', '', v.topic + '@' + v.partition + ':' + v.offset + ' ' + v.reason], 'undecodable', '', 'problem');
  });
  source.addEventListener('failed', function () { setState('reconnecting'); });  // the browser reconnects by itself
  source.onerror = function () { setState('reconnecting'); };
}());

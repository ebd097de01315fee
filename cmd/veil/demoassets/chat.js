// Veil demo chat: renders messages as text only and turns http(s) URLs into
// links built with DOM calls, never HTML strings.
(function () {
  'use strict';

  var role = document.body.getAttribute('data-role');
  var log = document.getElementById('log');
  var status = document.getElementById('status');
  var form = document.getElementById('send');
  var input = document.getElementById('text');
  var urlPattern = /https?:\/\/[^\s<>"']+/g;

  // appendLinkified appends text to parent, with http and https URLs as
  // links; everything else becomes text nodes.
  function appendLinkified(parent, text) {
    var last = 0;
    var m;
    urlPattern.lastIndex = 0;
    while ((m = urlPattern.exec(text)) !== null) {
      var raw = m[0].replace(/[.,;:!?)\]]+$/, '');
      var url;
      try {
        url = new URL(raw);
      } catch (e) {
        continue;
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        continue;
      }
      parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      var a = document.createElement('a');
      a.href = url.href;
      a.textContent = raw;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      parent.appendChild(a);
      last = m.index + raw.length;
      urlPattern.lastIndex = last;
    }
    parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function show(msg) {
    var li = document.createElement('li');
    li.className = msg.from === 'agent' ? 'agent' : 'visitor';
    var from = document.createElement('span');
    from.className = 'from';
    from.textContent = msg.from === 'agent' ? 'Agent' : 'Visitor';
    li.appendChild(from);
    appendLinkified(li, String(msg.text));
    log.appendChild(li);
    li.scrollIntoView({block: 'nearest'});
  }

  var ws = null;
  var retry = 500;

  function connect() {
    var scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    ws = new WebSocket(scheme + '//' + location.host + '/ws?role=' + encodeURIComponent(role));
    ws.addEventListener('open', function () {
      retry = 500;
      status.textContent = 'Connected as ' + role + '.';
    });
    ws.addEventListener('message', function (ev) {
      var msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      if (msg && typeof msg.text === 'string') {
        show(msg);
      }
    });
    ws.addEventListener('close', function (ev) {
      status.textContent = 'Disconnected' + (ev.reason ? ' (' + ev.reason + ')' : '') + '; reconnecting…';
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    });
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text || !ws || ws.readyState !== WebSocket.OPEN) {
      return;
    }
    ws.send(JSON.stringify({from: role, text: text}));
    input.value = '';
  });

  connect();

  var ask = document.getElementById('ask');
  if (!ask) {
    return;
  }
  var prompt = document.getElementById('prompt');
  var answer = document.getElementById('answer');

  // readEvents calls onData with the data of each server-sent event.
  function readEvents(body, onData) {
    var reader = body.getReader();
    var decoder = new TextDecoder();
    var buf = '';
    function pump() {
      return reader.read().then(function (r) {
        if (r.done) {
          return;
        }
        buf += decoder.decode(r.value, {stream: true}).replace(/\r\n/g, '\n');
        var i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          var event = buf.slice(0, i);
          buf = buf.slice(i + 2);
          var data = event.split('\n').filter(function (l) {
            return l.indexOf('data:') === 0;
          }).map(function (l) {
            return l.slice(5).replace(/^ /, '');
          }).join('\n');
          if (data && onData(data) === false) {
            return reader.cancel();
          }
        }
        return pump();
      });
    }
    return pump();
  }

  ask.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var text = '';
    answer.textContent = '';
    answer.setAttribute('aria-busy', 'true');
    fetch('/v1/chat/completions', {
      method: 'POST',
      headers: {'Content-Type': 'application/json', 'Accept': 'text/event-stream'},
      body: JSON.stringify({model: 'veil-demo', stream: true, messages: [{role: 'user', content: prompt.value}]})
    }).then(function (res) {
      if (!res.ok || !res.body) {
        throw new Error('the bot answered ' + res.status);
      }
      return readEvents(res.body, function (data) {
        if (data === '[DONE]') {
          return false;
        }
        var chunk = JSON.parse(data);
        var delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
        if (delta && typeof delta.content === 'string') {
          text += delta.content;
          answer.textContent = text;
        }
        return true;
      });
    }).then(function () {
      answer.textContent = '';
      appendLinkified(answer, text);
    }).catch(function (err) {
      answer.textContent = 'The bot could not answer: ' + err.message;
    }).then(function () {
      answer.removeAttribute('aria-busy');
    });
  });
})();

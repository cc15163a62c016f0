// audex playground: drives the public job API from a form. No framework, no
// build step; everything here is what a client program would do too.
'use strict';

(() => {
  const API = '/job/extract/video/audio';
  const TOKEN_KEY = 'audex.token';
  // Uploading a huge file twice (probe, then submit) costs too much: past
  // this size only the head is probed, and a failure then stays quiet.
  const PROBE_WHOLE_MAX = 256 << 20;
  const PROBE_HEAD = 64 << 20;

  const $ = (id) => document.getElementById(id);
  const form = $('job-form');
  const token = $('token');

  // --- formatting ---------------------------------------------------------

  // parseTime accepts seconds ("12.5") or [hh:]mm:ss[.fff]; NaN otherwise.
  function parseTime(s) {
    s = s.trim();
    if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
    const m = /^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$/.exec(s);
    if (!m) return NaN;
    const sec = Number(m[3]);
    if (sec >= 60 || Number(m[2]) >= 60 && m[1] !== undefined) return NaN;
    return Number(m[1] || 0) * 3600 + Number(m[2]) * 60 + sec;
  }

  function fmtTime(sec) {
    if (typeof sec !== 'number' || !isFinite(sec)) return '?';
    if (sec < 60) return sec.toFixed(3) + ' s';
    const h = Math.floor(sec / 3600);
    const m = Math.floor(sec / 60) % 60;
    const s = (sec % 60).toFixed(3).padStart(6, '0');
    return (h ? h + ':' + String(m).padStart(2, '0') : String(m)) + ':' + s;
  }

  function fmtBytes(n) {
    if (typeof n !== 'number') return '?';
    if (n < 1024) return n + ' bytes';
    const units = ['KiB', 'MiB', 'GiB'];
    let v = n / 1024, i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return v.toFixed(1) + ' ' + units[i] + ' (' + n.toLocaleString('en') + ' bytes)';
  }

  function fmtAudio(t) {
    const parts = [];
    if (t.sample_rate) parts.push((t.sample_rate / 1000) + ' kHz');
    if (t.channel_layout) parts.push(t.channel_layout);
    else if (t.channels) parts.push(t.channels + ' ch');
    return parts.join(', ');
  }

  // shq quotes a word for a POSIX shell.
  const shq = (s) => "'" + String(s).replace(/'/g, "'\\''") + "'";

  // --- errors next to their fields ----------------------------------------

  const videoField = () => (source() === 'url' ? 'video_url' : 'video');

  function setError(field, msg) {
    const box = $(field + '-error') || $('form-error');
    box.textContent = msg;
    box.hidden = false;
    const input = $(field);
    if (input && box.id === field + '-error') {
      input.setAttribute('aria-invalid', 'true');
      if ($('extras').contains(input)) $('extras').open = true;
    }
  }

  function clearErrors() {
    for (const box of document.querySelectorAll('.error')) {
      box.hidden = true;
      box.textContent = '';
    }
    for (const el of document.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  }

  // Plain words for the API's stable failure codes, and the field each
  // concerns. Unknown codes fall back to the server's message.
  const CODES = {
    unauthorized: ['token', 'The API token is missing or wrong.'],
    missing_video: [null, 'Pick a video file first.'],
    empty_input: [null, 'The file is empty.'],
    too_large: [null, 'The file is larger than this server accepts.'],
    input_too_large: [null, 'The file is larger than this server accepts.'],
    unrecognized_format: [null, 'This is not a video or audio file that audex can read.'],
    invalid_input: [null, 'The file looks damaged: audex could not read its audio.'],
    unsupported_input: [null, 'audex does not accept this kind of file.'],
    encrypted_unsupported: [null, 'The audio in this file is encrypted.'],
    too_many_streams: [null, 'The file has more streams than this server allows.'],
    no_audio_stream: [null, 'This video has no audio track.'],
    fetch_failed: ['video_url', 'The server could not download the video from that URL.'],
    start_beyond_end: ['start_time', 'The start is past the end of the audio.'],
    track_not_found: ['track', 'The video has no such audio track.'],
    output_limit_exceeded: ['duration', 'The clip would be longer or larger than this server allows.'],
    missing_video_url: ['video_url', 'Enter the address of the video.'],
    unsupported_output_format: ['output_format', 'audex cannot write this format.'],
    stalled: [null, 'The upload stopped sending data; try again.'],
    upload_interrupted: [null, 'The upload was interrupted; try again.'],
    queue_full: ['form', 'The server is busy; try again in a moment.'],
    unavailable: ['form', 'The server is not taking jobs right now; try again in a moment.'],
    timeout: ['form', 'The job took too long and was stopped.'],
    worker_crashed: ['form', 'The extraction crashed on this file.'],
    storage_full: ['form', 'The server has no room left for the result.'],
    canceled: ['form', 'The job was canceled.'],
    expired: ['form', 'The job has expired.'],
  };

  // showFailure places an API error ({error, code, fields}) or a failed
  // job's status ({message, code}) next to the fields it concerns.
  function showFailure(body, httpStatus) {
    let code = body.code || '';
    if (!code && httpStatus === 401) code = 'unauthorized';
    if (!code && httpStatus === 413) code = 'too_large';
    const fields = Array.isArray(body.fields) ? body.fields : [];
    for (const f of fields) {
      const name = f.field === 'video' ? videoField() : f.field;
      setError($(name + '-error') ? name : 'form', f.message);
    }
    if (fields.length) return;
    const known = CODES[code];
    let field = known ? known[0] || videoField() : 'form';
    if (code === 'track_not_found' && $('language').value.trim() && !$('track').value) field = 'language';
    let msg = known ? known[1] : body.error || body.message || 'Something went wrong (HTTP ' + httpStatus + ').';
    if (code === 'start_beyond_end' && probed && probed.duration) {
      msg += ' The video is ' + fmtTime(probed.duration) + ' long.';
    }
    const detail = body.error || body.message;
    if (known && detail && field === 'form') msg += ' (' + detail + ')';
    setError(field, msg);
  }

  async function api(method, path, body) {
    const headers = {};
    if (token.value) headers['apy-token'] = token.value;
    // credentials 'omit': the API authenticates by header, and a 401 must
    // not make the browser pop up its own Basic login dialog.
    const res = await fetch(path, { method, headers, body, cache: 'no-store', credentials: 'omit' });
    let data = {};
    try { data = await res.json(); } catch (_) { /* not JSON: keep {} */ }
    return { status: res.status, ok: res.ok, data };
  }

  // --- token ----------------------------------------------------------------

  token.value = sessionStorage.getItem(TOKEN_KEY) || '';
  token.addEventListener('input', () => {
    sessionStorage.setItem(TOKEN_KEY, token.value);
    $('token-error').hidden = true;
    token.removeAttribute('aria-invalid');
  });
  token.addEventListener('change', () => { if (!probed) probe(); });

  // --- source: file or URL --------------------------------------------------

  const source = () => form.elements.source.value;
  for (const r of form.querySelectorAll('input[name=source]')) {
    r.addEventListener('change', () => {
      $('file-field').hidden = source() !== 'file';
      $('url-field').hidden = source() !== 'url';
      $('probe').hidden = source() !== 'file' || !$('probe-summary').textContent;
      $('wave').hidden = source() !== 'file' || !waveState;
      updateSubmit();
    });
  }

  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer.files.length) {
      $('video').files = e.dataTransfer.files;
      $('video').dispatchEvent(new Event('change'));
    }
  });

  // --- probe: the tracks and the length before submitting -------------------

  let probed = null; // the last probe answer for the chosen file
  let probeSeq = 0;

  function resetTracks(tracks, best) {
    const sel = $('track');
    sel.replaceChildren(new Option('Best track (automatic)', ''));
    for (const t of tracks) {
      const bits = ['Track ' + t.track, t.codec, t.language || 'no language', fmtAudio(t)];
      if (t.duration) bits.push(fmtTime(t.duration));
      if (t.track === best) bits.push('best');
      sel.add(new Option(bits.filter(Boolean).join(' · '), String(t.track)));
    }
  }

  async function probe() {
    const file = $('video').files[0];
    const seq = ++probeSeq;
    probed = null;
    resetJob();
    resetWave();
    $('probe').hidden = true;
    $('probe-summary').textContent = '';
    $('tracks').hidden = true;
    resetTracks([], 0);
    if (!file) return;
    $('video-error').hidden = true;
    $('video').removeAttribute('aria-invalid');
    const whole = file.size <= PROBE_WHOLE_MAX;
    const fd = new FormData();
    fd.append('video', whole ? file : file.slice(0, PROBE_HEAD), file.name);
    // The waveform comes with the probe: a huge file, probed by its head
    // only, gets none.
    if (whole) fd.append('peaks', String(wave.columns()));
    $('probe').hidden = false;
    $('probe-summary').textContent = 'Reading ' + file.name + '…';
    let r;
    try {
      r = await api('POST', API + '/probe', fd);
    } catch (_) {
      r = { status: 0, ok: false, data: {} };
    }
    if (seq !== probeSeq) return; // another file was picked meanwhile
    if (!r.ok) {
      $('probe-summary').textContent = '';
      $('probe').hidden = true;
      // A server without the probe endpoint, or a partial probe of a huge
      // file, just means no track list: the job itself will tell.
      if (r.status === 404 || r.status === 405 || r.status === 0 || !whole) return;
      showFailure(r.data, r.status);
      return;
    }
    probed = r.data;
    const tracks = probed.audio_tracks || [];
    $('probe-summary').textContent = file.name + ': ' +
      (probed.duration ? fmtTime(probed.duration) + ' long' : 'length unknown') + ', ' +
      (tracks.length === 1 ? '1 audio track' : tracks.length + ' audio tracks');
    const body = $('tracks').tBodies[0];
    body.replaceChildren();
    for (const t of tracks) {
      const tr = body.insertRow();
      for (const v of [String(t.track) + (t.track === probed.best_track ? ' (best)' : ''),
        t.codec, t.language || '—', fmtAudio(t), t.duration ? fmtTime(t.duration) : '?']) {
        tr.insertCell().textContent = v;
      }
    }
    $('tracks').hidden = tracks.length === 0;
    resetTracks(tracks, probed.best_track);
    noAudio = tracks.length === 0;
    updateSubmit();
    if (noAudio) {
      setError('video', CODES.no_audio_stream[1] + ' Pick another file.');
      return;
    }
    if (!whole) {
      $('wave').hidden = false;
      $('wave-note').textContent = 'No waveform for a file this large: it would have to be uploaded once more.';
      return;
    }
    waveState = { duration: probed.duration || (probed.peaks ? probed.peaks.to : 0), overview: {}, view: null };
    if (probed.peaks) {
      waveState.overview[''] = probed.peaks;
      showWave(probed.peaks, null);
    }
  }
  $('video').addEventListener('change', probe);

  $('full_audio').addEventListener('change', () => {
    $('duration').disabled = $('full_audio').checked;
  });

  // --- submit and follow the job --------------------------------------------

  let pollTimer = 0;
  let expiryTimer = 0;

  function curlSubmit(fields, file) {
    const lines = ['curl -sS -H "apy-token: $AUDEX_TOKEN" \\'];
    if (file) lines.push('  -F ' + shq('video=@' + file.name) + ' \\');
    for (const [k, v] of fields) lines.push('  -F ' + shq(k + '=' + v) + ' \\');
    const q = $('persistent').checked ? '?persistent=true' : '';
    lines.push('  ' + shq(location.origin + API + (file ? '/file' : '/url') + q));
    return lines.join('\n');
  }

  function setCmd(id, text) {
    const ta = $(id);
    ta.value = text;
    ta.rows = Math.max(2, text.split('\n').length);
  }

  function collect() {
    const fields = [];
    const add = (name, v) => { if (v !== '') fields.push([name, v]); };
    if (source() === 'url') add('video_url', $('video_url').value.trim());
    add('start_time', $('start_time').value.trim());
    if ($('full_audio').checked) add('full_audio', 'true');
    else add('duration', $('duration').value.trim());
    add('output_format', $('output_format').value);
    for (const name of ['track', 'language', 'sample_rate', 'channels', 'bitrate', 'copy']) {
      add(name, $(name).value.trim());
    }
    return fields;
  }

  function validate() {
    let ok = true;
    if (source() === 'file' && !$('video').files[0]) { setError('video', 'Pick a video file first.'); ok = false; }
    if (source() === 'url' && !/^https?:\/\/\S+$/i.test($('video_url').value.trim())) {
      setError('video_url', 'Enter an http:// or https:// address.'); ok = false;
    }
    const start = $('start_time').value.trim();
    if (start !== '' && isNaN(parseTime(start))) {
      setError('start_time', 'Write the start as seconds (12.5) or a time (01:30 or 00:01:30.250).'); ok = false;
    }
    const length = source() === 'file' && probed ? probed.duration : 0;
    if (length && parseTime(start || '0') >= length) {
      setError('start_time', CODES.start_beyond_end[1] + ' The video is ' + fmtTime(length) + ' long.'); ok = false;
    }
    if (!$('full_audio').checked) {
      const d = parseTime($('duration').value);
      if (isNaN(d) || d <= 0) {
        setError('duration', 'Write a duration above zero, as seconds (2.5) or a time (00:02.500).'); ok = false;
      }
    }
    return ok;
  }

  let busyNow = false;
  let noAudio = false; // the probed file has no audio track: nothing to extract

  function setBusy(busy) {
    busyNow = busy;
    updateSubmit();
    $('job').setAttribute('aria-busy', busy ? 'true' : 'false');
  }

  function updateSubmit() {
    $('submit').disabled = busyNow || (noAudio && source() === 'file');
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors();
    if (!validate()) return;
    stopFollowing();
    clearInterval(expiryTimer);
    const fields = collect();
    const file = source() === 'file' ? $('video').files[0] : null;
    const fd = new FormData();
    if (file) fd.append('video', file, file.name);
    for (const [k, v] of fields) fd.append(k, v);

    $('job').hidden = false;
    $('result').hidden = true;
    $('curl').hidden = false;
    $('curl-download-wrap').hidden = true;
    setCmd('curl-submit', curlSubmit(fields, file));
    setCmd('curl-status', '');
    $('job-detail').textContent = '';
    $('job-progress').removeAttribute('value'); // indeterminate while sending
    $('job-progress').hidden = false;
    $('curl-status').closest('.cmd').hidden = true; // no job to ask about yet
    $('job-status').textContent = file ? 'Uploading ' + fmtBytes(file.size).replace(/ \(.*/, '') + '…' : 'Submitting…';
    setBusy(true);

    const q = $('persistent').checked ? '?persistent=true' : '';
    let r;
    try {
      r = await api('POST', API + (file ? '/file' : '/url') + q, fd);
    } catch (_) {
      r = { status: 0, ok: false, data: { error: 'The server could not be reached.' } };
    }
    if (!r.ok || !r.data.job_id) {
      setBusy(false);
      $('job-status').textContent = 'Not submitted.';
      $('job-progress').hidden = true;
      showFailure(r.data, r.status);
      return;
    }
    const id = r.data.job_id;
    setCmd('curl-status', 'curl -sS -H "apy-token: $AUDEX_TOKEN" \\\n  ' +
      shq(location.origin + API + '/status/' + encodeURIComponent(id)));
    $('curl-status').closest('.cmd').hidden = false;
    $('job-status').textContent = 'Job ' + id + ' submitted.';
    follow(id);
  });

  const STAGES = {
    queued: 'Waiting in the queue',
    fetching: 'Downloading the video',
    probing: 'Reading the video',
    extracting: 'Extracting audio',
    storing: 'Saving the result',
    done: 'Done',
  };

  // The stream under way (its AbortController), if any.
  let stream = null;

  function stopFollowing() {
    clearTimeout(pollTimer);
    if (stream) stream.abort();
    stream = null;
  }

  // follow watches a job through its live status stream (server-sent
  // events: a status event at every change, then done), and falls back to
  // polling when no stream can be had or it breaks off before the end (a
  // network hiccup, the server restarting). fetch, not EventSource: the
  // token goes in a header.
  async function follow(id) {
    stopFollowing();
    const ctl = new AbortController();
    stream = ctl;
    $('job').dataset.follow = 'stream';
    try {
      const headers = { Accept: 'text/event-stream' };
      if (token.value) headers['apy-token'] = token.value;
      const res = await fetch(API + '/status/' + encodeURIComponent(id),
        { headers, cache: 'no-store', credentials: 'omit', signal: ctl.signal });
      if (!res.ok || !res.body || !/^text\/event-stream/.test(res.headers.get('Content-Type') || '')) {
        throw new Error('no stream: HTTP ' + res.status);
      }
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n?/g, '\n');
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let event = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data += line.slice(5).replace(/^ /, '');
          }
          if ((event === 'status' || event === 'done') && data && stream === ctl && show(id, JSON.parse(data))) {
            stream = null;
            ctl.abort();
            return;
          }
        }
      }
    } catch (_) {
      // Aborted, refused or broken: decided below.
    }
    if (stream !== ctl) return; // a newer job, or a new file, took over
    stream = null;
    $('job').dataset.follow = 'poll';
    poll(id, 0);
  }

  async function poll(id, failures) {
    let r;
    try {
      r = await api('GET', API + '/status/' + encodeURIComponent(id));
    } catch (_) {
      r = { status: 0, ok: false, data: {} };
    }
    if (!r.ok) {
      if (r.status === 0 && failures < 10) { // the network hiccuped: retry
        pollTimer = setTimeout(() => poll(id, failures + 1), 1000);
        return;
      }
      setBusy(false);
      $('job-status').textContent = 'Lost track of job ' + id + '.';
      if (r.status === 404) setError('form', 'The job is gone: it expired, or it belongs to another token.');
      else showFailure(r.data, r.status);
      return;
    }
    if (!show(id, r.data)) pollTimer = setTimeout(() => poll(id, 0), 400);
  }

  // show shows a job's status; it returns true once the job is final.
  function show(id, st) {
    if (st.status === 'pending') {
      const stage = STAGES[st.stage] || st.message || 'Working';
      let text = stage;
      if (st.queue_position) text += ' (position ' + st.queue_position + ')';
      if (typeof st.progress === 'number') {
        $('job-progress').value = st.progress;
        text += ' — ' + Math.floor(st.progress) + '%';
      } else {
        $('job-progress').removeAttribute('value'); // indeterminate
      }
      $('job-status').textContent = text;
      $('job-detail').textContent = 'Job ' + id;
      return false;
    }
    setBusy(false);
    if (st.status === 'successful') {
      $('job-progress').value = 100;
      $('job-status').textContent = 'Done.';
      showResult(st);
      return true;
    }
    $('job-progress').value = 0;
    const known = CODES[st.code];
    $('job-status').textContent = 'Failed: ' + (known ? known[1] : st.message || 'unknown error');
    $('job-detail').textContent = 'Job ' + id + (known && st.message ? ' · the server said: ' + st.message : '');
    showFailure(st, 200);
    return true;
  }

  const MIME = {
    mp3: 'audio/mpeg', wav: 'audio/wav', aac: 'audio/aac', m4a: 'audio/mp4', ogg: 'audio/ogg',
    flac: 'audio/flac', wma: 'audio/x-ms-wma', ac3: 'audio/ac3', amr: 'audio/amr',
  };

  function showResult(st) {
    const meta = st.metadata || {};
    const out = meta.output || {};
    const input = meta.input || {};
    const format = out.format || $('output_format').value;
    const url = st.url;
    const name = decodeURIComponent(new URL(url, location.href).pathname.split('/').pop() || 'audio.' + format);

    const player = $('player');
    const note = $('player-note');
    if (player.canPlayType(MIME[format] || '')) {
      player.src = url;
      player.hidden = false;
      note.hidden = true;
    } else {
      player.removeAttribute('src');
      player.hidden = true;
      note.textContent = 'This browser cannot play ' + format.toUpperCase() + '; download the file to listen.';
      note.hidden = false;
    }
    const a = $('download');
    a.href = url;
    a.download = name;
    a.textContent = 'Download ' + name;
    a.removeAttribute('aria-disabled');

    const expiry = $('expiry');
    clearInterval(expiryTimer);
    if (st.expires_at) {
      const end = Date.parse(st.expires_at);
      const tick = () => {
        const left = Math.round((end - Date.now()) / 1000);
        if (left <= 0) {
          expiry.textContent = '(link expired)';
          a.setAttribute('aria-disabled', 'true');
          a.removeAttribute('href');
          clearInterval(expiryTimer);
          return;
        }
        const m = Math.floor(left / 60), s = left % 60;
        expiry.textContent = '(link expires in ' + m + ':' + String(s).padStart(2, '0') + ')';
      };
      tick();
      expiryTimer = setInterval(tick, 1000);
    } else {
      expiry.textContent = '(kept until deleted)';
    }

    const rows = [
      ['Start', fmtTime(out.start)],
      ['Duration', fmtTime(out.duration)],
      ['Format', format + (out.codec ? ' (' + out.codec + (out.copied ? ', copied' : '') + ')' : '')],
      ['Sample rate', out.sample_rate ? out.sample_rate + ' Hz' : '?'],
      ['Channels', out.channels ? out.channels + (out.channel_layout ? ' (' + out.channel_layout + ')' : '') : '?'],
    ];
    if (out.bitrate) rows.push(['Bit rate', Math.round(out.bitrate / 1000) + ' kbit/s']);
    rows.push(['Size', fmtBytes(out.bytes)]);
    if (input.codec) {
      rows.push(['From', 'track ' + input.track + ': ' + [input.codec, input.language, fmtAudio(input)].filter(Boolean).join(', ')]);
    }
    if (out.real_time_factor) rows.push(['Speed', Math.round(out.real_time_factor) + '× real time']);
    const dl = $('meta');
    dl.replaceChildren();
    for (const [k, v] of rows) {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      dd.dataset.key = k.toLowerCase().replace(/ /g, '_');
      dl.append(dt, dd);
    }
    setCmd('curl-download', 'curl -sSfo ' + shq(name) + ' \\\n  ' + shq(new URL(url, location.href).href));
    $('curl-download-wrap').hidden = false;
    $('result').hidden = false;
    showResultWave(st);
  }

  // --- waveform: see the sound, and pick the clip on it ---------------------

  const fmtSeconds = (s) => String(Math.round(s * 1000) / 1000);

  // A selection made on the waveform fills the fields.
  const wave = new AudexWave.Selector($('wave-box'), (start, end) => {
    $('start_time').value = fmtSeconds(start);
    $('full_audio').checked = false;
    $('duration').disabled = false;
    $('duration').value = fmtSeconds(Math.max(end - start, 0.001));
    for (const f of ['start_time', 'duration']) {
      $(f + '-error').hidden = true;
      $(f).removeAttribute('aria-invalid');
    }
  });
  // The chosen file's waveform: its length, the whole-file peaks per
  // track ('' is the automatic choice) and the zoomed view, null for all.
  let waveState = null;
  let peaksSeq = 0;

  function resetWave() {
    waveState = null;
    peaksSeq++;
    $('wave').hidden = true;
    $('wave-note').textContent = '';
    wave.setData(0, null, { from: 0, to: 1 });
  }

  // A new file: the last one's job, result and messages go.
  function resetJob() {
    stopFollowing();
    clearInterval(expiryTimer);
    $('job').hidden = true;
    $('result').hidden = true;
    $('player').pause();
    $('player').removeAttribute('src');
    noAudio = false;
    clearErrors();
    setBusy(false);
  }

  // The fields' clip, drawn on the waveform.
  function selectionFromFields() {
    if (!waveState) return;
    const len = waveState.duration;
    const s = parseTime($('start_time').value || '0');
    const d = $('full_audio').checked ? len : parseTime($('duration').value);
    if (isNaN(s) || isNaN(d)) return;
    wave.setSelection(Math.min(s, len), Math.min(s + d, len));
  }
  for (const id of ['start_time', 'duration']) $(id).addEventListener('input', selectionFromFields);
  $('full_audio').addEventListener('change', selectionFromFields);

  function showWave(peaks, view) {
    waveState.view = view;
    const len = waveState.duration || peaks.to;
    $('wave').hidden = false; // first: the canvas takes the box's size
    wave.setData(len, peaks, view || { from: 0, to: len });
    $('zoom-out').hidden = !view;
    $('wave-range').textContent = view
      ? 'Zoomed: ' + fmtTime(view.from) + ' to ' + fmtTime(view.to)
      : 'Track ' + peaks.track + ', the whole ' + fmtTime(len);
    $('wave-note').textContent = peaks.sampled
      ? 'Sampled: this long recording is drawn from a short window of each column, not from every sample. Zoom in for every sample.'
      : '';
    selectionFromFields();
  }

  // loadWave asks the probe for the chosen track's peaks over view (null:
  // the whole file) at the box's resolution. The file is sent again: the
  // server keeps nothing between requests.
  async function loadWave(view) {
    const file = $('video').files[0];
    if (!file || !waveState) return;
    const track = $('track').value;
    if (!view && waveState.overview[track]) {
      showWave(waveState.overview[track], null);
      return;
    }
    const seq = ++peaksSeq;
    const fd = new FormData();
    fd.append('video', file, file.name);
    fd.append('peaks', String(wave.columns()));
    if (track) fd.append('track', track);
    if (view) {
      fd.append('peaks_from', view.from.toFixed(3));
      fd.append('peaks_to', view.to.toFixed(3));
    }
    $('wave-note').textContent = 'Drawing the waveform…';
    let r;
    try {
      r = await api('POST', API + '/probe', fd);
    } catch (_) {
      r = { ok: false, data: {} };
    }
    if (seq !== peaksSeq) return; // another file, track or zoom since
    if (!r.ok || !r.data.peaks) {
      $('wave-note').textContent = 'The waveform could not be drawn' + (r.data.error ? ': ' + r.data.error : '.');
      return;
    }
    if (!view) waveState.overview[track] = r.data.peaks;
    showWave(r.data.peaks, view);
  }

  $('track').addEventListener('change', () => loadWave(waveState && waveState.view));
  $('zoom-in').addEventListener('click', () => {
    if (!waveState) return;
    const { start, end } = wave.sel;
    const len = waveState.duration;
    const pad = Math.max((end - start) * 0.1, 0.05);
    const from = Math.max(0, start - pad), to = Math.min(len, Math.max(end + pad, from + 0.1));
    if (to > from) loadWave({ from, to });
  });
  $('zoom-out').addEventListener('click', () => loadWave(null));

  // The result's own waveform, under the player: it spans the clip, as
  // the player's bar does, and a line follows the playback.
  let resultSeq = 0;
  let resultPeaks = null;

  function drawResultWave() {
    if (!resultPeaks || $('result-wave').hidden) return;
    const color = getComputedStyle($('result-wave')).getPropertyValue('--wave');
    $('result-canvas').dataset.painted = AudexWave.drawPeaks($('result-canvas'), resultPeaks, { from: 0, to: resultPeaks.to }, color);
  }
  new ResizeObserver(drawResultWave).observe($('result-wave'));

  async function showResultWave(st) {
    const seq = ++resultSeq;
    resultPeaks = null;
    $('result-wave').hidden = true;
    $('result-wave-note').hidden = true;
    const cols = Math.max(16, Math.min(4096, Math.round($('result').clientWidth * (window.devicePixelRatio || 1))));
    let r;
    try {
      r = await api('GET', API + '/peaks/' + encodeURIComponent(st.job_id) + '?peaks=' + cols);
    } catch (_) {
      return;
    }
    if (seq !== resultSeq || !r.ok) return; // no waveform: the player still plays
    resultPeaks = r.data;
    $('result-wave').hidden = false;
    drawResultWave();
    const out = (st.metadata || {}).output || {};
    let note = 'The result\'s own sound';
    if (typeof out.start === 'number' && typeof out.duration === 'number') {
      note += ', ' + fmtTime(out.start) + ' to ' + fmtTime(out.start + out.duration) + ' of the video: the clip you selected';
    }
    $('result-wave-note').textContent = note + (resultPeaks.sampled ? ' (sampled).' : '.');
    $('result-wave-note').hidden = false;
  }
  $('player').addEventListener('timeupdate', () => {
    const p = $('player');
    const len = resultPeaks ? resultPeaks.to : p.duration;
    if (len > 0) $('playhead').style.left = Math.min(p.currentTime / len * 100, 100) + '%';
  });

  // --- copy buttons ---------------------------------------------------------

  for (const b of document.querySelectorAll('button.copy')) {
    b.addEventListener('click', async () => {
      const ta = $(b.dataset.copy);
      let done = false;
      try {
        await navigator.clipboard.writeText(ta.value);
        done = true;
      } catch (_) {
        ta.select();
        done = document.execCommand('copy');
      }
      b.textContent = done ? 'Copied' : 'Press Ctrl+C';
      setTimeout(() => { b.textContent = 'Copy'; }, 1500);
    });
  }
})();

// Browser uploads with one progress bar per file. Each file goes in its own POST
// (XMLHttpRequest, for upload progress events), a few at a time; the server streams
// each to disk and answers JSON. Without JavaScript the form posts all files at once.
(function () {
  "use strict";

  var PARALLEL = 3;
  var form = document.getElementById("upload-form");
  if (!form) {
    return;
  }
  var input = form.querySelector("input[type=file]");
  var button = document.getElementById("upload-button");
  var list = document.getElementById("upload-list");
  var status = document.getElementById("upload-status");
  var maxBytes = Number(form.dataset.maxBytes) || 0;

  function humanSize(bytes) {
    var units = ["bytes", "KB", "MB", "GB", "TB"];
    var value = bytes;
    var unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit === 0 ? value : value.toFixed(1)) + " " + units[unit];
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text; // never innerHTML: names and messages are user data
    }
    return node;
  }

  function makeRow(file) {
    var item = el("li", "list-group-item");
    var head = el("div", "d-flex justify-content-between gap-2");
    head.appendChild(el("span", "text-break", file.name));
    head.appendChild(el("span", "text-nowrap small text-body-secondary", humanSize(file.size)));
    var progress = el("div", "progress mt-1");
    progress.setAttribute("role", "progressbar");
    progress.setAttribute("aria-label", "Upload of " + file.name);
    progress.setAttribute("aria-valuemin", "0");
    progress.setAttribute("aria-valuemax", "100");
    progress.setAttribute("aria-valuenow", "0");
    var bar = el("div", "progress-bar progress-bar-striped progress-bar-animated");
    bar.style.width = "0%"; // CSSOM, not a style attribute: allowed by the CSP
    progress.appendChild(bar);
    var message = el("div", "small mt-1 text-body-secondary", "Waiting…");
    item.appendChild(head);
    item.appendChild(progress);
    item.appendChild(message);
    list.appendChild(item);
    return { item: item, progress: progress, bar: bar, message: message };
  }

  function setProgress(row, percent) {
    row.bar.style.width = percent + "%";
    row.progress.setAttribute("aria-valuenow", String(percent));
  }

  function finish(row, ok, text) {
    row.bar.classList.remove("progress-bar-animated", "progress-bar-striped");
    row.bar.classList.add(ok ? "bg-success" : "bg-danger");
    setProgress(row, ok ? 100 : Number(row.progress.getAttribute("aria-valuenow")) || 100);
    row.message.className = "small mt-1 " + (ok ? "text-success" : "text-danger");
    row.message.textContent = text;
  }

  // Resumable uploads (tus protocol, static/vendor/tus-js-client): the file goes in
  // pieces, a dropped connection is retried from the offset the server holds, and a
  // reloaded page picks the same file up where it stopped (the browser remembers the
  // upload's address by file name, size and date).
  var tusUrl = form.dataset.tusUrl;
  // Each PATCH a bounded piece: short requests (no worker timeout on a 5 GB body), and
  // a dropped one costs at most a piece.
  var CHUNK = Number(form.dataset.tusChunk) || 16 * 1024 * 1024;

  function refusal(error) {
    var response = error && error.originalResponse;
    if (response) {
      try {
        var answer = JSON.parse(response.getBody());
        if (answer && answer.errors) {
          return answer.errors.join(" ");
        }
      } catch (e) {
        // not ours: fall through
      }
      return "The server answered unexpectedly (status " + response.getStatus() + "). " +
        "Are you still logged in? Reload the page and choose the file again: it resumes.";
    }
    return "The connection failed. Choose the file again to resume where it stopped.";
  }

  function uploadResumable(job, token, description) {
    return new Promise(function (resolve) {
      var upload = new window.tus.Upload(job.file, {
        endpoint: tusUrl,
        chunkSize: CHUNK,
        retryDelays: [0, 1000, 3000, 5000, 10000, 20000, 30000],
        removeFingerprintOnSuccess: true,
        headers: { "X-CSRFToken": token },
        metadata: { filename: job.file.name, description: description },
        onProgress: function (sent, total) {
          setProgress(job.row, Math.min(99, Math.floor((100 * sent) / total)));
          job.row.message.textContent =
            "Uploading… " + humanSize(sent) + " of " + humanSize(total);
        },
        onShouldRetry: function (error, attempt, options) {
          var status = error.originalResponse ? error.originalResponse.getStatus() : 0;
          if (status === 0) {
            job.row.message.textContent = "Connection lost; retrying…";
          }
          return status === 0 || status === 409 || status === 423 || status >= 500;
        },
        onError: function (error) {
          finish(job.row, false, refusal(error));
          resolve(false);
        },
        onSuccess: function () {
          finish(job.row, true, "Added '" + job.file.name + "' (" + humanSize(job.file.size) + ").");
          resolve(true);
        },
      });
      job.upload = upload;
      upload.findPreviousUploads().then(function (previous) {
        if (previous.length) {
          job.row.message.textContent = "Resuming where it stopped…";
          upload.resumeFromPreviousUpload(previous[0]);
        } else {
          job.row.message.textContent = "Uploading…";
        }
        upload.start();
      });
    });
  }

  function uploadOne(job, token, description) {
    if (tusUrl && window.tus && window.tus.isSupported) {
      return uploadResumable(job, token, description);
    }
    return new Promise(function (resolve) {
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-CSRFToken", token);
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) {
          setProgress(job.row, Math.min(99, Math.floor((100 * event.loaded) / event.total)));
          // The request also carries the form's other fields: count in the file's bytes,
          // so the sizes match the one shown beside the name.
          var sent = Math.min(job.file.size, Math.round((job.file.size * event.loaded) / event.total));
          job.row.message.textContent =
            "Uploading… " + humanSize(sent) + " of " + humanSize(job.file.size);
        }
      });
      xhr.addEventListener("load", function () {
        var answer = null;
        try {
          answer = JSON.parse(xhr.responseText);
        } catch (e) {
          answer = null;
        }
        if (answer && answer.ok) {
          finish(job.row, true, (answer.added || []).join(" ") || "Uploaded.");
          resolve(true);
        } else if (answer) {
          finish(job.row, false, (answer.errors || ["The upload was refused."]).join(" "));
          resolve(false);
        } else {
          finish(
            job.row,
            false,
            "The server answered unexpectedly (status " + xhr.status + "). " +
              "Are you still logged in? Reload the page and try again."
          );
          resolve(false);
        }
      });
      xhr.addEventListener("error", function () {
        finish(job.row, false, "The connection failed; nothing was saved. Try again.");
        resolve(false);
      });
      xhr.addEventListener("abort", function () {
        finish(job.row, false, "Cancelled.");
        resolve(false);
      });
      var data = new FormData();
      data.append("csrfmiddlewaretoken", token);
      data.append("description", description);
      data.append("files", job.file, job.file.name);
      job.row.message.textContent = "Uploading…";
      xhr.send(data);
    });
  }

  form.addEventListener("submit", function (event) {
    if (!window.FormData || !window.XMLHttpRequest) {
      return; // very old browser: plain form post
    }
    event.preventDefault();
    var files = Array.prototype.slice.call(input.files || []);
    status.textContent = "";
    if (!files.length) {
      status.className = "alert alert-warning";
      status.textContent = "Choose at least one file.";
      return;
    }
    var token = form.querySelector("[name=csrfmiddlewaretoken]").value;
    var descriptionField = form.querySelector("[name=description]");
    var description = descriptionField ? descriptionField.value : "";
    list.textContent = "";
    var queue = [];
    var results = [];
    files.forEach(function (file) {
      var row = makeRow(file);
      // Checked here too so nobody waits for a refusal; the server checks regardless.
      if (maxBytes && file.size > maxBytes) {
        finish(row, false, "Larger than " + humanSize(maxBytes) +
          ", the limit for uploads. Put it on lab storage and add it from there.");
        results.push(false);
      } else if (file.size === 0) {
        finish(row, false, "The file is empty (0 bytes); Kaggle does not take empty files.");
        results.push(false);
      } else {
        queue.push({ file: file, row: row });
      }
    });
    button.disabled = true;
    input.disabled = true;

    function done() {
      button.disabled = false;
      input.disabled = false;
      input.value = "";
      var okCount = results.filter(Boolean).length;
      var failed = results.length - okCount;
      if (!failed) {
        status.className = "alert alert-success";
        status.textContent = "All " + okCount + " file(s) uploaded. Opening the dataset…";
        window.location.assign(form.dataset.doneUrl);
        return;
      }
      status.className = "alert alert-warning";
      status.textContent = okCount + " file(s) uploaded, " + failed +
        " refused: see the messages below. Fix them and choose those files again.";
    }

    var running = 0;
    function next() {
      if (!queue.length && running === 0) {
        done();
        return;
      }
      while (running < PARALLEL && queue.length) {
        var job = queue.shift();
        running += 1;
        uploadOne(job, token, description).then(function (ok) {
          results.push(ok);
          running -= 1;
          next();
        });
      }
    }
    next();
  });
})();

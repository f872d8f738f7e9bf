// Cover image: the two crops Kaggle makes (560×280 header, 280×280 thumbnail) of the file
// chosen in the form, shown before the form is saved. A static file (the CSP allows no
// inline script). Only a preview: the server checks the image with Pillow on save and
// stores its own re-encoding (datasets/cover.py), whatever this shows.
(function () {
  "use strict";

  // The formats datasets/cover.py accepts (its FORMATS), as the browser names them.
  var TYPES = ["image/png", "image/jpeg", "image/webp"];

  function megabytes(bytes) {
    return Math.round(bytes / (1024 * 1024));
  }

  function setUp(input) {
    var card = document.getElementById(input.dataset.coverPreview);
    if (!card) {
      return;
    }
    var status = card.querySelector("[data-cover-status]");
    var thumbnailBox = card.querySelector(".cover-crop-thumbnail");
    var crops = Array.prototype.slice.call(card.querySelectorAll("[data-cover-crop]"));
    // What the page showed first (the saved cover's crops, or nothing), to go back to.
    var saved = {
      hidden: card.hidden,
      status: status.textContent,
      sources: crops.map(function (img) { return img.getAttribute("src"); }),
    };
    var clear = input.form ? input.form.querySelector("input[name='" + input.name + "-clear']") : null;
    var objectUrl = null;

    function release() {
      if (objectUrl) {
        URL.revokeObjectURL(objectUrl);
        objectUrl = null;
      }
    }

    function say(text, warning) {
      status.textContent = text;
      status.classList.toggle("text-danger", Boolean(warning));
    }

    function restore() {
      release();
      thumbnailBox.classList.remove("is-local");
      crops.forEach(function (img, i) {
        if (saved.sources[i]) {
          img.setAttribute("src", saved.sources[i]);
        } else {
          img.removeAttribute("src");
        }
      });
      card.hidden = saved.hidden;
      say(saved.status, false);
    }

    function show(file) {
      release();
      if (TYPES.indexOf(file.type) === -1) {
        restore();
        card.hidden = false;
        say(file.name + " is not a PNG, JPEG or WebP image: Wharf will refuse it when you save.", true);
        return;
      }
      objectUrl = URL.createObjectURL(file);
      var probe = new Image();
      probe.onload = function () {
        var w = probe.naturalWidth;
        var h = probe.naturalHeight;
        var minW = Number(input.dataset.minWidth);
        var minH = Number(input.dataset.minHeight);
        var maxBytes = Number(input.dataset.maxBytes);
        crops.forEach(function (img) { img.src = objectUrl; });
        thumbnailBox.classList.add("is-local");
        card.hidden = false;
        if (w < minW || h < minH) {
          say(file.name + " is " + w + "×" + h + "; Kaggle needs at least " + minW + "×" + minH +
            " pixels, so Wharf will refuse it when you save.", true);
        } else if (file.size > maxBytes) {
          say(file.name + " is larger than " + megabytes(maxBytes) +
            " MB: Wharf will refuse it when you save.", true);
        } else {
          say("Not saved yet: " + file.name + " (" + w + "×" + h + "), as Kaggle will crop it. " +
            "Save the form to keep it.", false);
        }
      };
      probe.onerror = function () {
        restore();
        card.hidden = false;
        say("This browser cannot show " + file.name + "; Wharf checks it when you save.", true);
      };
      probe.src = objectUrl;
    }

    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      if (file) {
        if (clear) {
          clear.checked = false;
        }
        show(file);
      } else {
        restore();
      }
    });

    if (clear) {
      clear.addEventListener("change", function () {
        if (clear.checked) {
          input.value = "";
          restore();
          say("The cover will be removed when you save.", true);
        } else {
          restore();
        }
      });
    }
  }

  document.querySelectorAll("input[type=file][data-cover-preview]").forEach(setUp);
})();

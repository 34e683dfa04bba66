// What the browser tests' player pages share: report to the test's server (POST /report)
// what the browser supports, then every 250 ms the video's currentTime, and once a decoded
// frame (the test cannot take a screenshot of a headless page itself).
"use strict";

function report(body) {
  return fetch("/report", {method: "POST", body: JSON.stringify(body)});
}

window.addEventListener("error", (event) => report({error: String(event.message)}));

// Starts the reports; `supported` says whether the page's player library can play here.
function reportPlayback(video, canvas, supported) {
  const decodes = (type) => MediaSource.isTypeSupported(type);
  report({
    h264: decodes('video/mp4; codecs="avc1.42E01E"'),
    av1: decodes('video/mp4; codecs="av01.0.04M.08"'),
    opus: decodes('audio/mp4; codecs="opus"'),
    supported,
  });
  video.play().catch((error) => report({error: `play(): ${error}`}));
  let frameSent = false;
  let start = null;  // a live HLS player may start anywhere in the window
  setInterval(() => {
    const sample = {currentTime: video.currentTime, readyState: video.readyState};
    if (start === null && video.currentTime > 0) start = video.currentTime;
    if (!frameSent && start !== null && video.currentTime > start + 1.0 && video.videoWidth > 0) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext("2d").drawImage(video, 0, 0);
      sample.frame = canvas.toDataURL("image/png");
      frameSent = true;
    }
    report(sample);
  }, 250);
}

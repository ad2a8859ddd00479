// The page's logic: each side holds an uploaded file or a bundled example; a choice is previewed at once
// (/api/preview: background removal and framing, or the one error line); Reconstruct queues a job
// (/api/jobs) and polls it until the turntable, the mesh and the downloads can be shown.
"use strict";

const DOWNLOADS = [["mesh.glb", "mesh (.glb)"], ["avatar.vrm", "avatar (.vrm)"], ["turntable.mp4", "turntable (.mp4)"],
                   ["turntable.gif", "turntable (.gif)"], ["views.zip", "ortho views (.zip)"]];
const chosen = {front: null, back: null};  // {file} or {example}
const $ = (id) => document.getElementById(id);

function showError(message) { $("error").textContent = message || ""; }

function formFor(side, key) {
  const form = new FormData();
  const choice = chosen[side];
  if (choice.file) form.append(key, choice.file); else form.append(key + "_example", choice.example);
  return form;
}

async function postForm(url, form) {
  const response = await fetch(url, {method: "POST", body: form});
  let body;
  try { body = await response.json(); } catch (e) { body = {error: `the server answered ${response.status}`}; }
  return body;
}

function updateButton() { $("run").disabled = !(chosen.front && chosen.back && !chosen.front.bad && !chosen.back.bad); }

async function choose(side, choice, inputUrl) {
  chosen[side] = choice;
  const input = $(`${side}-input`), preview = $(`${side}-preview`);
  input.src = inputUrl; input.classList.remove("hidden");
  preview.classList.add("hidden");
  updateButton();
  const form = formFor(side, "image");
  form.append("side", side);
  const body = await postForm("/api/preview", form);
  if (chosen[side] !== choice) return;  // a newer choice came meanwhile
  if (body.error) { choice.bad = true; showError(body.error); }
  else { preview.src = body.preview; preview.classList.remove("hidden"); showError(""); }
  updateButton();
}

function chooseFile(side, file) {
  if (!file) return;
  $("example").value = "";
  choose(side, {file}, URL.createObjectURL(file));
}

for (const side of ["front", "back"]) {
  $(`${side}-file`).addEventListener("change", (e) => chooseFile(side, e.target.files[0]));
  const drop = $(`${side}-drop`);
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault(); drop.classList.remove("over");
    chooseFile(side, e.dataTransfer.files[0]);
  });
}

async function loadExamples() {
  const examples = await (await fetch("/api/examples")).json();
  for (const ex of examples) {
    const option = document.createElement("option");
    option.value = ex.name; option.textContent = ex.name; option.dataset.front = ex.front; option.dataset.back = ex.back;
    $("example").appendChild(option);
  }
}

$("example").addEventListener("change", (e) => {
  const option = e.target.selectedOptions[0];
  if (!option.value) return;
  for (const side of ["front", "back"]) {
    $(`${side}-file`).value = "";
    choose(side, {example: option.value}, option.dataset[side]);
  }
});

function showResult(job) {
  const base = `/jobs/${job.id}/`;
  if (job.files.includes("turntable.mp4")) $("turntable").src = base + "turntable.mp4";
  if (job.files.includes("mesh.glb")) NovaViewer.show($("viewer"), base + "mesh.glb").catch((e) => showError(String(e)));
  $("notes").textContent = job.notes.join(" ");
  $("downloads").innerHTML = "";
  for (const [name, label] of DOWNLOADS) {
    if (!job.files.includes(name)) continue;
    const link = document.createElement("a");
    link.href = base + name; link.download = name; link.textContent = label; link.id = "download-" + name.replace(".", "-");
    $("downloads").appendChild(link);
  }
}

async function poll(id) {
  for (;;) {
    const job = await (await fetch(`/api/jobs/${id}`)).json();
    if (job.error && job.state !== "failed") { showError(job.error); break; }
    $("progress").value = job.fraction;
    const where = job.state === "queued" ? `waiting: ${job.ahead} job(s) ahead` : `${job.stage || "starting"}`;
    $("status").textContent = `${job.state}: ${where} (${job.seconds} s)`;
    if (job.state === "failed") { showError(job.error); break; }
    if (job.state === "done") {
      $("status").textContent = `done in ${job.seconds} s`;
      showResult(job);
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  $("progress").classList.add("hidden");
  updateButton();
}

$("run").addEventListener("click", async () => {
  showError("");
  $("run").disabled = true;
  const form = new FormData();
  for (const side of ["front", "back"]) for (const [k, v] of formFor(side, side)) form.append(k, v);
  const job = await postForm("/api/jobs", form);
  if (job.error) { showError(job.error); updateButton(); return; }
  $("progress").value = 0; $("progress").classList.remove("hidden");
  poll(job.id);
});

loadExamples();

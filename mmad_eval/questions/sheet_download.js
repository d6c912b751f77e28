// The download button and answered count of the rating sheet (questions/rating_sheet.py) and the grading
// sheet (run/open_sheet.py). The page defines FILE_PREFIX, sheetAnswers() (the answers with the sheet's
// identity and the rater's name) and updateCount(); the file downloads as FILE_PREFIX-<rater>.json.
function downloadAnswers() {
  var data = sheetAnswers();
  if (!data.rater) { alert("Please enter your name or initials first."); return; }
  var blob = new Blob([JSON.stringify(data, null, 1)], {type: "application/json"});
  var a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = FILE_PREFIX + "-" + data.rater.replace(/[^A-Za-z0-9_-]+/g, "_") + ".json";
  document.body.appendChild(a); a.click(); a.remove();
}
document.addEventListener("change", updateCount);
document.addEventListener("DOMContentLoaded", updateCount);

// MathJax 3 for the whole site: the markdown pages' math comes from pymdownx.arithmatex (generic mode,
// `\(...\)` and `\[...\]` inside `.arithmatex`), the notebooks' from their markdown cells as written
// (`$...$` and `$$...$$` inside their `.jp-MarkdownOutput`; code cells and outputs are never typeset).
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    // every element with a class is skipped, with what it holds, unless its class is one of these two;
    // elements without a class follow their parent (so the <p> of a notebook's markdown cell is typeset)
    ignoreHtmlClass: ".+",
    processHtmlClass: "arithmatex|jp-MarkdownOutput",
  },
};

document$.subscribe(() => {
  if (window.MathJax.typesetPromise) {  // a later page of instant navigation: typeset it anew
    MathJax.startup.output.clearCache();
    MathJax.typesetClear();
    MathJax.texReset();
    MathJax.typesetPromise();
  }
});

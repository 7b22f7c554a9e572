// The console's entry point (bundled by web/build.mjs into dist/console/app.js).
import { render } from "preact";
import { App } from "./app.js";
import "../styles.css";

const root = document.getElementById("app");
if (root !== null) {
  root.textContent = "";
  render(<App />, root);
}

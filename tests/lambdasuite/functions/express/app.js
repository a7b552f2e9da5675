const serverless = require("serverless-http");
const express = require("express");

const app = express();
app.use(express.json());

app.get("/shop/items/:id", (req, res) => {
  res.set("X-Served-By", "express");
  res.json({ id: req.params.id, q: req.query.q || null, host: req.get("host") });
});

app.post("/shop/items", (req, res) => {
  res.cookie("cart", "1", { httpOnly: true });
  res.status(201).json({ created: req.body });
});

app.use((req, res) => res.status(404).json({ error: `no route for ${req.method} ${req.path}` }));

module.exports.handler = serverless(app);

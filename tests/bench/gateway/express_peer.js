// The hardening guide's Express middleware (section 6), completed into a proxy
// so that it can be measured beside the llmsec gateway: express-rate-limit on
// /api/, jsonwebtoken.verify with a shared secret, then http-proxy-middleware.
// usage: node express_peer.js PORT UPSTREAM   (JWT_SECRET in the environment)
const express = require('express');
const jwt = require('jsonwebtoken');
const rateLimit = require('express-rate-limit');
const { createProxyMiddleware } = require('http-proxy-middleware');

const [port, upstream] = process.argv.slice(2);
const app = express();

// The guide allows 100 requests per 15 minutes; raised so that the load test measures cost, not refusals.
app.use('/api/', rateLimit({ windowMs: 15 * 60 * 1000, limit: 1e9, standardHeaders: 'draft-8', legacyHeaders: false }));

app.use((req, res, next) => {
  const header = req.headers['authorization'] || '';
  const token = header.startsWith('Bearer ') ? header.slice(7) : '';
  if (!token) return res.status(401).json({ error: 'Unauthorized' });
  try {
    req.user = jwt.verify(token, process.env.JWT_SECRET, { algorithms: ['HS256'] });
    next();
  } catch {
    res.status(403).json({ error: 'Invalid token' });
  }
});

app.use(createProxyMiddleware({ target: upstream, changeOrigin: true }));
app.listen(Number(port), '127.0.0.1');

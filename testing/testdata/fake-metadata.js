// A fake cloud instance-metadata service for tests, one flavour at a time.
//   node fake-metadata.js aws|gcp|azure HOST PORT
// aws: IMDSv2 (PUT /latest/api/token, then the token on every GET; a GET without it is 401).
import http from 'node:http';
const [flavour, host, port] = process.argv.slice(2);
const TOKEN = 'kiln-test-token';
const send = (res, code, body, headers = {}) => {
  res.writeHead(code, { 'content-type': 'text/plain', ...headers });
  res.end(body);
};
const routes = {
  aws(req, res) {
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      if (!req.headers['x-aws-ec2-metadata-token-ttl-seconds']) return send(res, 400, 'missing ttl');
      return send(res, 200, TOKEN);
    }
    if (req.headers['x-aws-ec2-metadata-token'] !== TOKEN) return send(res, 401, 'Unauthorized');
    if (req.url === '/latest/dynamic/instance-identity/document') {
      return send(res, 200, JSON.stringify({ accountId: '123456789012', availabilityZone: 'us-east-1b', region: 'us-east-1', instanceId: 'i-0abc', instanceType: 'm5.large', privateIp: '10.77.2.9' }), { 'content-type': 'application/json' });
    }
    if (req.url === '/latest/meta-data/placement/availability-zone-id') return send(res, 200, 'use1-az2');
    return send(res, 404, 'Not Found');
  },
  gcp(req, res) {
    if (req.headers['metadata-flavor'] !== 'Google') return send(res, 403, 'Missing Metadata-Flavor:Google header');
    const h = { 'metadata-flavor': 'Google' };
    if (req.url === '/computeMetadata/v1/instance/zone') return send(res, 200, 'projects/424242/zones/europe-west1-c', h);
    if (req.url === '/computeMetadata/v1/project/numeric-project-id') return send(res, 200, '424242', h);
    return send(res, 404, 'Not Found', h);
  },
  azure(req, res) {
    if (req.headers.metadata !== 'true') return send(res, 400, 'Required metadata header not specified');
    if (req.url.startsWith('/metadata/instance/compute?')) {
      return send(res, 200, JSON.stringify({ location: 'westeurope', zone: '2', subscriptionId: 'sub-7', vmId: 'vm-1', vmSize: 'Standard_D2s_v3' }), { 'content-type': 'application/json' });
    }
    return send(res, 404, 'Not Found');
  },
};
http.createServer((req, res) => routes[flavour](req, res)).listen(Number(port), host, () => console.log('listening'));

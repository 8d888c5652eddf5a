const collection = await client.op('collections.create', {
  project_id: PROJECT_ID,
  name: 'May 2026 survey',
  color: '#2e7d32'
});
const collections = await client.op('collections.list', { project_id: PROJECT_ID });

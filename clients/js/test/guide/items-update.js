const updated = await client.op('items.update', {
  item_id: 'c71d...',
  name: 'Field 12 — corrected',
  collection_id: '3a9b...'
});

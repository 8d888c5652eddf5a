import { Geopera } from '@geopera/sdk';
const client = new Geopera({ apiKey: 'gpra_your_api_key' });
const page = await client.op('items.list', { project_id: PROJECT_ID, limit: 50 });
console.log(page.total, 'items');
const { item } = await client.op('items.get', { item_id: page.items[0].id });
console.log(item.name, item.lifecycle_state);

import { greeting, reply } from './shared/format';

export const handler = async () => {
  return reply({ items: ['a', 'b'], message: greeting('list') });
};

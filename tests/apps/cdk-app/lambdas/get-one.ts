import { greeting, reply } from './shared/format';

export const handler = async (event: { id?: string }) => {
  const id = event.id ?? 'none';
  return reply({ item: id, message: greeting('get-one') });
};

export const handler = async () => {
  return { done: true, by: 'worker' };
};

// Shared by get-one and list: a change here updates both.
export function greeting(name: string): string {
  return `hello ${name}`;
}

export function reply(body: unknown) {
  return { statusCode: 200, body: JSON.stringify(body) };
}

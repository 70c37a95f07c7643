import isNumber from "is-number";

export const handler = async (event: { value: unknown }) => ({
  number: isNumber(event.value),
  message: "hello",
});

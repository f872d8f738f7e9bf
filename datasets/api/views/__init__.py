"""API views: thin. They find the object through a scoped selector (another lab's ids
answer 404), validate the input with a serializer, call one service, and answer."""

// Intentionally empty: the floor that `deno task bench` measures nsbox against (Deno start-up + exit).

// Package corpus generates a synthetic, multi-script corpus of sought
// persons and registrations with known truth, to measure matching.
//
// Every name is invented: names are built from syllables of a small phoneme
// inventory, in five naming traditions (Armenian-like with -yan family
// names, many beginning Hov-; Georgian-like with -dze, -shvili, -ia;
// Arabic-like with Abd ... and Abu ... compounds and al- articles;
// Russian-like with -ov/-ova and patronymics; Greek-like), and each person
// is written the way a caseworker in another country would write them:
//
//   - in the native script (Armenian, Georgian, Arabic without short
//     vowels, Cyrillic, Greek), with rendering tables of this package that
//     are independent of node/names (so a measurement does not grade the
//     transliteration against itself);
//   - in Cyrillic as Russian-speaking registrars write foreign names (an
//     Armenian h becomes г or disappears: Оганесян, Ованесян);
//   - in Latin under several habits: a scholarly one, a French one (ou, ch,
//     dj), an English ad hoc one (ee, oo, dropped h), and back-romanised
//     from the Cyrillic form (Oganesyan);
//   - with typing errors, family and given names swapped or written in one
//     "full" value in either order, year-only birth dates, age ranges with
//     the date they were estimated, unknown sex, missing places;
//   - next to decoys: siblings and cousins sharing the family name, the
//     father's name and the place of birth (siblings never share a given
//     name: parents do not give two children one name), and common given
//     names (about 2% of 150,000 persons have a namesake of the same sex
//     born within five years: TestNamesakes).
//
// [Generate] is seeded and reproducible: the same [Config] always gives the
// same corpus, on every platform.
//
// Package corpus must never import an FLX package other than schema (it
// feeds node/match's measurements; node/match must not depend on it outside
// tests).
package corpus

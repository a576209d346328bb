import Basics

/// A max-heap on commit time: the order in which git's (and libgit2's) history walks visit
/// commits, newest first. Equal times come out in the order the sift leaves them, as in the walks
/// that used their own copies of this heap.
struct NewestFirstHeap<Element> {
    private enum NewestFirst: HeapOrder {
        static func before(_ a: (time: Int64, element: Element), _ b: (time: Int64, element: Element)) -> Bool { a.time > b.time }
    }

    private var heap = BinaryHeap<NewestFirst>()

    var isEmpty: Bool { heap.isEmpty }

    mutating func push(_ element: Element, time: Int64) { heap.push((time, element)) }

    /// The newest element; the heap must not be empty.
    mutating func pop() -> Element { heap.pop()!.element }
}

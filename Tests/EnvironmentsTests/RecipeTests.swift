import XCTest
@testable import Environments
